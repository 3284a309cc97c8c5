"""Checks Sluice's wire format with python-kafka, a client no one here wrote.

  interop.py produce BOOTSTRAP TOPIC N   writes N records: key "key-<i>", value <i*7> as a
                                         Java LongSerializer would (8 bytes big-endian),
                                         header trace=<i>; prints each record's partition.
  interop.py consume BOOTSTRAP TOPIC N   reads N records from every partition and prints
                                         one line per record: key partition value trace.
"""
import struct
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def main():
    mode, bootstrap, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if mode == "produce":
        # python-kafka's default partitioner is murmur2, as Kafka's Java producer.
        producer = KafkaProducer(bootstrap_servers=bootstrap, api_version=(2, 5, 0))
        futures = []
        for i in range(count):
            futures.append(producer.send(topic, key=b"key-%d" % i, value=struct.pack(">q", i * 7),
                                         headers=[("trace", b"%d" % i)]))
        producer.flush()
        for i, f in enumerate(futures):
            print("key-%d %d" % (i, f.get(timeout=10).partition))
    else:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                 consumer_timeout_ms=5000, api_version=(2, 5, 0))
        partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        seen = 0
        for m in consumer:
            headers = dict(m.headers or [])
            print("%s %d %d %s" % (m.key.decode(), m.partition, struct.unpack(">q", m.value)[0],
                                   headers.get("trace", b"-").decode()))
            seen += 1
            if seen >= count:
                break


if __name__ == "__main__":
    main()
