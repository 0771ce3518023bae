#include "net/imap/imap_summary.hpp"

#include <memory>

namespace maillab::net::imap {

std::string SummaryCache::key_of(std::string_view user, std::string_view mailbox, std::uint32_t uid_validity) {
  std::string key(user);
  key += '\n';
  key += mailbox;
  key += '\n';
  key += std::to_string(uid_validity);
  return key;
}

const SummaryCache::Table* SummaryCache::table(std::string_view user, std::string_view mailbox,
                                               std::uint32_t uid_validity) const {
  auto it = tables_.find(key_of(user, mailbox, uid_validity));
  return it == tables_.end() ? nullptr : &it->second;
}

const MessageSummary* SummaryCache::find(const Table* table, std::uint32_t uid, std::uint64_t size) {
  if (table == nullptr) return nullptr;
  auto it = table->find(uid);
  if (it == table->end() || it->second.size != size) return nullptr;
  return &it->second;
}

void SummaryCache::add(std::string_view user, std::string_view mailbox, std::uint32_t uid_validity,
                       std::uint32_t uid, MessageSummary summary) {
  std::size_t cost = summary.envelope.size() + summary.body_structure.size() + summary.body.size() + 64;
  if (bytes_ + cost > bytes_max_) {
    tables_.clear();
    bytes_ = 0;
  }
  std::string key = key_of(user, mailbox, uid_validity);
  auto table = tables_.find(key);
  if (table == tables_.end()) table = tables_.emplace(std::move(key), Table{}).first;
  auto [it, added] = table->second.insert_or_assign(uid, std::move(summary));
  (void)it;
  if (added) bytes_ += cost;
}

SummaryCache& SummaryCache::of(const mail::MailStore& store) {
  return store.reader_cache<SummaryCache>("imap.summaries", [] { return std::make_unique<SummaryCache>(); });
}

}  // namespace maillab::net::imap
