// KeyValue: the pair a key-changing operator returns.
//
//   stream.Map([](const std::string& k, const Order& o) {
//     return sluice::KeyValue{o.customer_id, o.total};
//   });
//
// Operators also accept std::pair<K, V>.
#pragma once

#include <type_traits>
#include <utility>

namespace sluice {

template <class K, class V>
struct KeyValue {
  K key;
  V value;
  friend bool operator==(const KeyValue&, const KeyValue&) = default;
};
template <class K, class V>
KeyValue(K, V) -> KeyValue<K, V>;

namespace internal {
template <class T>
struct KeyValueTraits {
  static constexpr bool kIsKeyValue = false;
};
template <class K, class V>
struct KeyValueTraits<KeyValue<K, V>> {
  static constexpr bool kIsKeyValue = true;
  using Key = K;
  using Value = V;
};
template <class K, class V>
struct KeyValueTraits<std::pair<K, V>> {
  static constexpr bool kIsKeyValue = true;
  using Key = K;
  using Value = V;
};
template <class T>
concept KeyValueLike = KeyValueTraits<std::remove_cvref_t<T>>::kIsKeyValue;

template <class T>
decltype(auto) KeyOf(T&& kv) {
  if constexpr (requires { kv.key; }) {
    return (std::forward<T>(kv).key);
  } else {
    return (std::forward<T>(kv).first);
  }
}
template <class T>
decltype(auto) ValueOf(T&& kv) {
  if constexpr (requires { kv.value; }) {
    return (std::forward<T>(kv).value);
  } else {
    return (std::forward<T>(kv).second);
  }
}
}  // namespace internal
}  // namespace sluice
