// The umbrella header: everything a Sluice application uses.
//
//   #include <sluice/sluice.h>
//
//   sluice::StreamsBuilder builder;
//   builder.Stream<std::string, std::string>("in").MapValues(to_upper).To("out");
//   auto topology = builder.Build();
#pragma once

#include "sluice/app.h"
#include "sluice/config.h"
#include "sluice/embedded_broker.h"
#include "sluice/global_ktable.h"
#include "sluice/key_value.h"
#include "sluice/ktable.h"
#include "sluice/join_windows.h"
#include "sluice/kstream.h"
#include "sluice/materialized.h"
#include "sluice/named.h"
#include "sluice/processor.h"
#include "sluice/state.h"
#include "sluice/record_context.h"
#include "sluice/serde.h"
#include "sluice/streams_builder.h"
#include "sluice/suppressed.h"
#include "sluice/timestamp.h"
#include "sluice/topic_writer.h"
#include "sluice/topology.h"
#include "sluice/windowed_kstream.h"
#include "sluice/windows.h"
