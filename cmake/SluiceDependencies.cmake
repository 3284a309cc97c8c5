# Finds Sluice's dependencies: all come from Debian packages (see scripts/deps.sh).
find_package(PkgConfig REQUIRED)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET GLOBAL rdkafka>=2.0)
find_package(absl REQUIRED)
find_package(TBB REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(FlatBuffers REQUIRED)  # Debian names the package FlatBuffers
find_package(Threads REQUIRED)
find_package(RocksDB REQUIRED CONFIG)  # librocksdb-dev; Sluice links RocksDB::rocksdb-shared
