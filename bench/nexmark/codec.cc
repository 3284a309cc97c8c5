#include "bench/nexmark/codec.h"

#include <cstring>
#include <vector>

#include "bench/nexmark/nexmark_generated.h"
#include "nlohmann/json.hpp"
#include "sluice/serde_flatbuffers.h"

namespace sluice::nexmark {
namespace {

std::string_view View(const flatbuffers::String* s) {
  return s == nullptr ? std::string_view() : std::string_view(s->data(), s->size());
}
void Assign(std::string& out, const flatbuffers::String* s) {
  std::string_view v = View(s);
  out.assign(v.data(), v.size());
}

void SerializeFlat(const Event& event, std::string& out) {
  thread_local flatbuffers::FlatBufferBuilder builder(512);
  builder.Clear();
  flatbuffers::Offset<void> payload;
  fb::Payload type = fb::Payload_NONE;
  if (const Bid* b = event.bid()) {
    auto channel = builder.CreateString(b->channel);
    auto url = builder.CreateString(b->url);
    auto extra = builder.CreateString(b->extra);
    payload = fb::CreateBid(builder, b->auction, b->bidder, b->price, channel, url, b->date_time, extra).Union();
    type = fb::Payload_Bid;
  } else if (const Auction* a = event.auction()) {
    auto item = builder.CreateString(a->item_name);
    auto description = builder.CreateString(a->description);
    auto extra = builder.CreateString(a->extra);
    payload = fb::CreateAuction(builder, a->id, item, description, a->initial_bid, a->reserve,
                                a->date_time, a->expires, a->seller, a->category, extra)
                  .Union();
    type = fb::Payload_Auction;
  } else {
    const Person& p = *event.person();
    auto name = builder.CreateString(p.name);
    auto email = builder.CreateString(p.email_address);
    auto card = builder.CreateString(p.credit_card);
    auto city = builder.CreateString(p.city);
    auto state = builder.CreateString(p.state);
    auto extra = builder.CreateString(p.extra);
    payload = fb::CreatePerson(builder, p.id, name, email, card, city, state, p.date_time, extra).Union();
    type = fb::Payload_Person;
  }
  builder.Finish(fb::CreateEvent(builder, type, payload), fb::EventIdentifier());
  out.assign(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

absl::Status DeserializeFlat(std::string_view bytes, Event& out) {
  if (bytes.data() == nullptr) return absl::InvalidArgumentError("nexmark event: null bytes");
  if (bytes.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    return absl::InvalidArgumentError("nexmark event: larger than the FlatBuffers maximum");
  }
  const uint8_t* data = internal::AlignedFlatBuffer(bytes);
  flatbuffers::Verifier verifier(data, bytes.size());
  if (!fb::VerifyEventBuffer(verifier)) {
    return absl::InvalidArgumentError(
        "nexmark event: " + std::to_string(bytes.size()) +
        " bytes failed FlatBuffers verification (malformed, or not a sluice.nexmark.fb.Event)");
  }
  const fb::Event* e = fb::GetEvent(data);
  if (const fb::Bid* b = e->payload_as_Bid()) {
    Bid& bid = out.payload.index() == 2 ? std::get<Bid>(out.payload) : out.payload.emplace<Bid>();
    bid.auction = b->auction();
    bid.bidder = b->bidder();
    bid.price = b->price();
    Assign(bid.channel, b->channel());
    Assign(bid.url, b->url());
    bid.date_time = b->date_time();
    Assign(bid.extra, b->extra());
  } else if (const fb::Auction* a = e->payload_as_Auction()) {
    Auction& auction = out.payload.emplace<Auction>();
    auction.id = a->id();
    Assign(auction.item_name, a->item_name());
    Assign(auction.description, a->description());
    auction.initial_bid = a->initial_bid();
    auction.reserve = a->reserve();
    auction.date_time = a->date_time();
    auction.expires = a->expires();
    auction.seller = a->seller();
    auction.category = a->category();
    Assign(auction.extra, a->extra());
  } else if (const fb::Person* p = e->payload_as_Person()) {
    Person& person = out.payload.emplace<Person>();
    person.id = p->id();
    Assign(person.name, p->name());
    Assign(person.email_address, p->email_address());
    Assign(person.credit_card, p->credit_card());
    Assign(person.city, p->city());
    Assign(person.state, p->state());
    person.date_time = p->date_time();
    Assign(person.extra, p->extra());
  } else {
    return absl::InvalidArgumentError("nexmark event: no person, auction or bid in it");
  }
  return absl::OkStatus();
}

void SerializeJson(const Event& event, std::string& out) {
  nlohmann::json j;
  if (const Bid* b = event.bid()) {
    j["bid"] = {{"auction", b->auction}, {"bidder", b->bidder}, {"price", b->price},
                {"channel", b->channel}, {"url", b->url},       {"dateTime", b->date_time},
                {"extra", b->extra}};
  } else if (const Auction* a = event.auction()) {
    j["auction"] = {{"id", a->id},
                    {"itemName", a->item_name},
                    {"description", a->description},
                    {"initialBid", a->initial_bid},
                    {"reserve", a->reserve},
                    {"dateTime", a->date_time},
                    {"expires", a->expires},
                    {"seller", a->seller},
                    {"category", a->category},
                    {"extra", a->extra}};
  } else {
    const Person& p = *event.person();
    j["person"] = {{"id", p.id},     {"name", p.name},   {"emailAddress", p.email_address},
                   {"creditCard", p.credit_card},        {"city", p.city},
                   {"state", p.state}, {"dateTime", p.date_time}, {"extra", p.extra}};
  }
  // Beam's `extra` holds only printable ASCII, so replacing invalid UTF-8 never applies.
  out = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::Status DeserializeJson(std::string_view bytes, Event& out) {
  if (bytes.data() == nullptr) return absl::InvalidArgumentError("nexmark event: null bytes");
  try {
    const nlohmann::json j = nlohmann::json::parse(bytes);
    if (auto it = j.find("bid"); it != j.end()) {
      Bid b;
      it->at("auction").get_to(b.auction);
      it->at("bidder").get_to(b.bidder);
      it->at("price").get_to(b.price);
      it->at("channel").get_to(b.channel);
      it->at("url").get_to(b.url);
      it->at("dateTime").get_to(b.date_time);
      it->at("extra").get_to(b.extra);
      out.payload = std::move(b);
    } else if (auto it = j.find("auction"); it != j.end()) {
      Auction a;
      it->at("id").get_to(a.id);
      it->at("itemName").get_to(a.item_name);
      it->at("description").get_to(a.description);
      it->at("initialBid").get_to(a.initial_bid);
      it->at("reserve").get_to(a.reserve);
      it->at("dateTime").get_to(a.date_time);
      it->at("expires").get_to(a.expires);
      it->at("seller").get_to(a.seller);
      it->at("category").get_to(a.category);
      it->at("extra").get_to(a.extra);
      out.payload = std::move(a);
    } else if (auto it = j.find("person"); it != j.end()) {
      Person p;
      it->at("id").get_to(p.id);
      it->at("name").get_to(p.name);
      it->at("emailAddress").get_to(p.email_address);
      it->at("creditCard").get_to(p.credit_card);
      it->at("city").get_to(p.city);
      it->at("state").get_to(p.state);
      it->at("dateTime").get_to(p.date_time);
      it->at("extra").get_to(p.extra);
      out.payload = std::move(p);
    } else {
      return absl::InvalidArgumentError("nexmark event: JSON has no \"person\", \"auction\" or \"bid\"");
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(std::string("nexmark event: ") + e.what());
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseFormat(std::string_view text, Format* out) {
  if (text == "flatbuffers") {
    *out = Format::kFlatBuffers;
  } else if (text == "json") {
    *out = Format::kJson;
  } else {
    return absl::InvalidArgumentError("--format: expected flatbuffers or json, got '" +
                                      std::string(text) + "'");
  }
  return absl::OkStatus();
}

std::string_view FormatName(Format format) {
  return format == Format::kJson ? "json" : "flatbuffers";
}

void EventSerde::Serialize(const Event& event, std::string& out) const {
  if (format_ == Format::kJson) {
    SerializeJson(event, out);
  } else {
    SerializeFlat(event, out);
  }
}

absl::Status EventSerde::Deserialize(std::string_view bytes, Event& out) const {
  return format_ == Format::kJson ? DeserializeJson(bytes, out) : DeserializeFlat(bytes, out);
}

}  // namespace sluice::nexmark
