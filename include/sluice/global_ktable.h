// GlobalKTable<K, V>: a table read from every partition of its topic, in full, by every
// instance of the application (docs/joins.md). Before any stream thread processes a
// record, the App's global thread reads the topic to its end into a local store; then
// it keeps reading, so the table stays current. A stream joins it with a key selector
// and needs no co-partitioning:
//
//   GlobalKTable<std::string, Product> products =
//       builder.GlobalTable<std::string, Product>("products");
//   orders.Join(products,
//               [](const std::string&, const Order& o) { return o.product_id; },
//               [](const Order& o, const Product& p) { return Line{o, p}; });
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "sluice/internal/graph.h"
#include "sluice/internal/table_getter.h"

namespace sluice {

template <class K, class V>
class GlobalKTable {
 public:
  using Key = K;
  using Value = V;

  // The store that holds the table, for interactive queries (App::Store).
  const std::string& queryable_store_name() const { return store_; }

  // For the DSL's own use.
  GlobalKTable(std::shared_ptr<internal::GraphBuilder> graph, std::string store,
               internal::GetterSupplierPtr<K, V> getter)
      : graph_(std::move(graph)), store_(std::move(store)), getter_(std::move(getter)) {}
  const std::shared_ptr<internal::GraphBuilder>& graph() const { return graph_; }
  const internal::GetterSupplierPtr<K, V>& value_getter() const { return getter_; }

 private:
  std::shared_ptr<internal::GraphBuilder> graph_;
  std::string store_;
  internal::GetterSupplierPtr<K, V> getter_;
};

}  // namespace sluice
