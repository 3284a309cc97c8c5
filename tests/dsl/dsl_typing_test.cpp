// Compile-time checks of the DSL's function-shape concepts: the shapes the DSL accepts
// and the ones it rejects (see compile_fail/ for the messages users get).
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/sluice.h"

namespace sluice {
namespace {

using K = std::string;
using V = int64_t;

// --- StreamPredicate ---
constexpr auto kPredicate = [](const K&, const V& v) { return v > 0; };
constexpr auto kPredicateByValue = [](K, V v) { return v > 0; };
constexpr auto kPredicateIntResult = [](const K&, const V&) { return 1; };  // converts to bool
constexpr auto kPredicateOneArg = [](const V& v) { return v > 0; };
constexpr auto kPredicateStringResult = [](const K& k, const V&) { return k; };
constexpr auto kPredicateVoid = [](const K&, const V&) {};
constexpr auto kPredicateMutableRef = [](K&, V&) { return true; };
static_assert(StreamPredicate<decltype(kPredicate), K, V>);
static_assert(StreamPredicate<decltype(kPredicateByValue), K, V>);
static_assert(StreamPredicate<decltype(kPredicateIntResult), K, V>);
static_assert(StreamPredicate<bool (*)(const K&, const V&), K, V>);
static_assert(!StreamPredicate<decltype(kPredicateOneArg), K, V>);
static_assert(!StreamPredicate<decltype(kPredicateStringResult), K, V>);
static_assert(!StreamPredicate<decltype(kPredicateVoid), K, V>);
static_assert(!StreamPredicate<decltype(kPredicateMutableRef), K, V>);
static_assert(!StreamPredicate<decltype(kPredicate), int, std::vector<int>>);  // wrong K, V

struct NotCopyable {
  NotCopyable() = default;
  NotCopyable(const NotCopyable&) = delete;
  bool operator()(const K&, const V&) const { return true; }
};
static_assert(!StreamPredicate<NotCopyable, K, V>);

// --- KeyValueMapper ---
constexpr auto kToKeyValue = [](const K& k, const V& v) { return KeyValue<V, K>{v, k}; };
constexpr auto kToPair = [](const K& k, const V& v) { return std::make_pair(v, k); };
constexpr auto kToTuple = [](const K& k, const V& v) { return std::make_tuple(v, k); };
constexpr auto kToValue = [](const K&, const V& v) { return v; };
constexpr auto kMapperOneArg = [](const V& v) { return KeyValue<V, V>{v, v}; };
static_assert(KeyValueMapper<decltype(kToKeyValue), K, V>);
static_assert(KeyValueMapper<decltype(kToPair), K, V>);
static_assert(!KeyValueMapper<decltype(kToTuple), K, V>);
static_assert(!KeyValueMapper<decltype(kToValue), K, V>);
static_assert(!KeyValueMapper<decltype(kMapperOneArg), K, V>);
static_assert(!KeyValueMapper<decltype(kPredicateVoid), K, V>);

// --- ValueMapper ---
constexpr auto kValueOnly = [](const V& v) { return std::to_string(v); };
constexpr auto kKeyAndValue = [](const K& k, const V& v) { return k + std::to_string(v); };
constexpr auto kValueByValue = [](V v) { return v + 1; };
constexpr auto kValueVoid = [](const V&) {};
constexpr auto kKeyValueVoid = [](const K&, const V&) {};
constexpr auto kValueMutableRef = [](V& v) { return v; };
constexpr auto kValueWrongType = [](const std::vector<int>& v) { return v.size(); };
static_assert(ValueMapper<decltype(kValueOnly), K, V>);
static_assert(ValueMapper<decltype(kKeyAndValue), K, V>);
static_assert(ValueMapper<decltype(kValueByValue), K, V>);
static_assert(!ValueMapper<decltype(kValueVoid), K, V>);
static_assert(!ValueMapper<decltype(kKeyValueVoid), K, V>);
static_assert(!ValueMapper<decltype(kValueMutableRef), K, V>);
static_assert(!ValueMapper<decltype(kValueWrongType), K, V>);

// --- ForeachAction ---
constexpr auto kAction = [](const K&, const V&) {};
constexpr auto kActionReturning = [](const K&, const V& v) { return v; };  // result ignored
constexpr auto kActionOneArg = [](const V&) {};
static_assert(ForeachAction<decltype(kAction), K, V>);
static_assert(ForeachAction<decltype(kActionReturning), K, V>);
static_assert(!ForeachAction<decltype(kActionOneArg), K, V>);
static_assert(!ForeachAction<decltype(kPredicateMutableRef), K, V>);

// --- The stream types the DSL derives ---
using Stream = KStream<K, V>;
static_assert(std::is_same_v<decltype(std::declval<Stream>().Filter(kPredicate)), Stream>);
static_assert(std::is_same_v<decltype(std::declval<Stream>().Map(kToKeyValue)), KStream<V, K>>);
static_assert(std::is_same_v<decltype(std::declval<Stream>().Map(kToPair)), KStream<V, K>>);
static_assert(std::is_same_v<decltype(std::declval<Stream>().MapValues(kValueOnly)),
                             KStream<K, std::string>>);
static_assert(std::is_same_v<decltype(std::declval<Stream>().MapValues(kKeyAndValue)),
                             KStream<K, std::string>>);
static_assert(std::is_same_v<decltype(std::declval<Stream>().MapValues(kValueByValue)), Stream>);
static_assert(std::is_same_v<decltype(std::declval<Stream>().SelectKey(kToValue)),
                             KStream<V, V>>);
static_assert(std::is_same_v<decltype(std::declval<Stream>().FlatMap(
                                 [](const K& k, const V& v) {
                                   return std::vector<std::pair<V, K>>{{v, k}};
                                 })),
                             KStream<V, K>>);
static_assert(std::is_same_v<decltype(std::declval<Stream>().FlatMapValues(
                                 [](const V& v) { return std::vector<double>{double(v)}; })),
                             KStream<K, double>>);
static_assert(std::is_same_v<decltype(std::declval<Stream>().Peek(kAction)), Stream>);
static_assert(std::is_void_v<decltype(std::declval<Stream>().Foreach(kAction))>);

// --- Default serdes ---
static_assert(std::is_same_v<DefaultSerdeFor<std::string>, StringSerde>);
static_assert(std::is_same_v<DefaultSerdeFor<int64_t>, Int64Serde>);
static_assert(std::is_same_v<DefaultSerdeFor<std::optional<int64_t>>, Nullable<Int64Serde>>);
static_assert(!HasDefaultSerde<NotCopyable>);
static_assert(!HasDefaultSerde<std::vector<int>>);

// The static_asserts above are the test; this makes the binary report something.
TEST(DslTyping, ConceptsAcceptAndRejectTheRightShapes) { SUCCEED(); }

}  // namespace
}  // namespace sluice
