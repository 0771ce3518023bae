#include "sim/store/memory_store.hpp"

#include <algorithm>
#include <utility>

#include "net/mail/message.hpp"
#include "sim/store/mailbox_name.hpp"
#include "sim/store/store_flags.hpp"

namespace maillab::sim {

using net::mail::Flags;
using net::mail::MailboxInfo;
using net::mail::MailboxStatus;
using net::mail::MessageMeta;
using net::mail::StoreLimits;

namespace {

Error not_found(std::string what) { return make_error(ErrorCategory::not_found, std::move(what)); }

}  // namespace

Result<const MemoryStore::User*> MemoryStore::find_user(std::string_view user) const {
  auto parsed = parse_user(user);
  if (!parsed) return parsed.error();
  auto it = users_.find(parsed->key);
  if (it == users_.end()) return not_found("no such user " + parsed->key);
  return &it->second;
}

Result<MemoryStore::User*> MemoryStore::find_user(std::string_view user) {
  auto found = std::as_const(*this).find_user(user);
  if (!found) return found.error();
  return const_cast<User*>(*found);
}

Result<const MemoryStore::Mailbox*> MemoryStore::find_mailbox(std::string_view user, std::string_view name) const {
  auto owner = find_user(user);
  if (!owner) return owner.error();
  auto canonical = canonical_mailbox_name(name);
  if (!canonical) return canonical.error();
  auto it = (*owner)->mailboxes.find(*canonical);
  if (it == (*owner)->mailboxes.end()) return not_found("no such mailbox " + *canonical);
  return &it->second;
}

Result<MemoryStore::Mailbox*> MemoryStore::find_mailbox(std::string_view user, std::string_view name) {
  auto found = std::as_const(*this).find_mailbox(user, name);
  if (!found) return found.error();
  return const_cast<Mailbox*>(*found);
}

std::uint64_t MemoryStore::total_bytes(const User& user) {
  std::uint64_t total = 0;
  for (const auto& [name, box] : user.mailboxes) {
    for (const auto& [uid, message] : box.messages) total += message.meta.size;
  }
  return total;
}

void MemoryStore::add_mailbox(User& user, const std::string& name) {
  Mailbox box;
  box.uid_validity = next_uid_validity_++;
  user.mailboxes.emplace(name, std::move(box));
}

std::uint32_t MemoryStore::store_message(Mailbox& box, Message message) {
  std::uint32_t uid = box.uid_next++;
  message.meta.uid = uid;
  box.messages.emplace(uid, std::move(message));
  ++box.modseq;
  ++change_counter_;
  return uid;
}

Result<void> MemoryStore::ensure_user(std::string_view user) {
  auto parsed = parse_user(user);
  if (!parsed) return parsed.error();
  User& entry = users_[parsed->key];
  bool changed = false;
  auto ensure = [&](std::string_view name) {
    std::string key(name);
    if (entry.mailboxes.count(key) != 0) return;
    add_mailbox(entry, key);
    entry.subscriptions.insert(key);
    changed = true;
  };
  ensure(kInbox);
  for (std::string_view special : kSpecialMailboxes) ensure(special);
  if (changed) ++change_counter_;
  return {};
}

bool MemoryStore::has_user(std::string_view user) const { return find_user(user).ok(); }

Result<void> MemoryStore::set_limits(std::string_view user, StoreLimits limits) {
  auto owner = find_user(user);
  if (!owner) return owner.error();
  (*owner)->limits = limits;
  return {};
}

Result<std::uint64_t> MemoryStore::used_bytes(std::string_view user) const {
  auto owner = find_user(user);
  if (!owner) return owner.error();
  return total_bytes(**owner);
}

Result<std::vector<MailboxInfo>> MemoryStore::list_mailboxes(std::string_view user) const {
  auto owner = find_user(user);
  if (!owner) return owner.error();
  const User& u = **owner;
  std::vector<MailboxInfo> out;
  for (const auto& [name, box] : u.mailboxes) {
    MailboxInfo info;
    info.name = name;
    info.special_use = special_use_of(name);
    info.subscribed = u.subscriptions.count(name) != 0;
    auto child = u.mailboxes.lower_bound(name + "/");
    info.has_children = child != u.mailboxes.end() && is_within(child->first, name);
    out.push_back(std::move(info));
  }
  std::stable_partition(out.begin(), out.end(), [](const MailboxInfo& i) { return i.name == kInbox; });
  return out;
}

Result<void> MemoryStore::create_mailbox(std::string_view user, std::string_view name) {
  auto owner = find_user(user);
  if (!owner) return owner.error();
  auto canonical = canonical_mailbox_name(name);
  if (!canonical) return canonical.error();
  User& u = **owner;
  if (u.mailboxes.count(*canonical) != 0) {
    return make_error(ErrorCategory::exists, "mailbox " + *canonical + " already exists");
  }
  // RFC 3501 §6.3.3: create the superior hierarchical names that are missing.
  for (std::size_t slash = canonical->find('/'); slash != std::string::npos;
       slash = canonical->find('/', slash + 1)) {
    std::string parent = canonical->substr(0, slash);
    if (u.mailboxes.count(parent) == 0) add_mailbox(u, parent);
  }
  add_mailbox(u, *canonical);
  ++change_counter_;
  return {};
}

Result<void> MemoryStore::delete_mailbox(std::string_view user, std::string_view name) {
  auto owner = find_user(user);
  if (!owner) return owner.error();
  auto canonical = canonical_mailbox_name(name);
  if (!canonical) return canonical.error();
  User& u = **owner;
  if (*canonical == kInbox) {
    return make_error(ErrorCategory::invalid_argument, "INBOX cannot be deleted (RFC 3501 §6.3.4)");
  }
  auto it = u.mailboxes.find(*canonical);
  if (it == u.mailboxes.end()) return not_found("no such mailbox " + *canonical);
  auto child = u.mailboxes.lower_bound(*canonical + "/");
  if (child != u.mailboxes.end() && is_within(child->first, *canonical)) {
    return make_error(ErrorCategory::invalid_argument, "mailbox " + *canonical + " has children");
  }
  u.mailboxes.erase(it);
  ++change_counter_;
  return {};
}

Result<void> MemoryStore::rename_mailbox(std::string_view user, std::string_view from, std::string_view to) {
  auto owner = find_user(user);
  if (!owner) return owner.error();
  auto source = canonical_mailbox_name(from);
  if (!source) return source.error();
  auto target = canonical_mailbox_name(to);
  if (!target) return target.error();
  User& u = **owner;
  if (u.mailboxes.count(*source) == 0) return not_found("no such mailbox " + *source);
  if (u.mailboxes.count(*target) != 0) {
    return make_error(ErrorCategory::exists, "mailbox " + *target + " already exists");
  }
  if (*source != kInbox && is_within(*target, *source)) {
    return make_error(ErrorCategory::invalid_argument, "cannot rename a mailbox into itself");
  }
  std::vector<std::string> names;
  if (*source != kInbox) {
    for (const auto& [name, box] : u.mailboxes) {
      if (is_within(name, *source)) names.push_back(name);
    }
    for (const std::string& old_name : names) {
      std::string new_name = *target + old_name.substr(source->size());
      if (u.mailboxes.count(new_name) != 0) {
        return make_error(ErrorCategory::exists, "mailbox " + new_name + " already exists");
      }
    }
  }
  for (std::size_t slash = target->find('/'); slash != std::string::npos;
       slash = target->find('/', slash + 1)) {
    std::string parent = target->substr(0, slash);
    if (u.mailboxes.count(parent) == 0) add_mailbox(u, parent);
  }
  if (*source == kInbox) {
    // RFC 3501 §6.3.5: the messages move to the new mailbox, INBOX stays (empty),
    // and INBOX's inferior names are unaffected.
    add_mailbox(u, *target);
    Mailbox& inbox = u.mailboxes.at(std::string(kInbox));
    Mailbox& moved = u.mailboxes.at(*target);
    for (auto& [uid, message] : inbox.messages) store_message(moved, std::move(message));
    inbox.messages.clear();
    ++inbox.modseq;
    ++change_counter_;
    return {};
  }
  for (const std::string& old_name : names) {
    std::string new_name = *target + old_name.substr(source->size());
    auto node = u.mailboxes.extract(old_name);
    node.key() = new_name;
    u.mailboxes.insert(std::move(node));
  }
  std::vector<std::string> subscribed;
  for (const std::string& name : u.subscriptions) {
    if (is_within(name, *source)) subscribed.push_back(name);
  }
  for (const std::string& name : subscribed) {
    u.subscriptions.erase(name);
    u.subscriptions.insert(*target + name.substr(source->size()));
  }
  ++change_counter_;
  return {};
}

Result<void> MemoryStore::set_subscribed(std::string_view user, std::string_view name, bool subscribed) {
  auto owner = find_user(user);
  if (!owner) return owner.error();
  auto canonical = canonical_mailbox_name(name);
  if (!canonical) return canonical.error();
  User& u = **owner;
  bool changed = subscribed ? u.subscriptions.insert(*canonical).second : u.subscriptions.erase(*canonical) != 0;
  if (changed) ++change_counter_;
  return {};
}

Result<MailboxStatus> MemoryStore::status(std::string_view user, std::string_view mailbox) const {
  auto box = find_mailbox(user, mailbox);
  if (!box) return box.error();
  MailboxStatus out;
  out.uid_validity = (*box)->uid_validity;
  out.uid_next = (*box)->uid_next;
  out.modseq = (*box)->modseq;
  out.messages = static_cast<std::uint32_t>((*box)->messages.size());
  for (const auto& [uid, message] : (*box)->messages) {
    if (!has_flag(message.meta.flags, kFlagSeen)) ++out.unseen;
  }
  return out;
}

Result<std::vector<MessageMeta>> MemoryStore::messages(std::string_view user, std::string_view mailbox) const {
  auto box = find_mailbox(user, mailbox);
  if (!box) return box.error();
  std::vector<MessageMeta> out;
  out.reserve((*box)->messages.size());
  for (const auto& [uid, message] : (*box)->messages) out.push_back(message.meta);
  return out;
}

Result<std::string> MemoryStore::read(std::string_view user, std::string_view mailbox, std::uint32_t uid) const {
  auto box = find_mailbox(user, mailbox);
  if (!box) return box.error();
  auto it = (*box)->messages.find(uid);
  if (it == (*box)->messages.end()) return not_found("no message with UID " + std::to_string(uid));
  return it->second.data;
}

Result<std::uint32_t> MemoryStore::append(std::string_view user, std::string_view mailbox, std::string_view data,
                                          const Flags& flags, std::int64_t internal_date_s) {
  auto owner = find_user(user);
  if (!owner) return owner.error();
  auto box = find_mailbox(user, mailbox);
  if (!box) return box.error();
  auto canonical = canonical_flags(flags);
  if (!canonical) return canonical.error();
  Message message;
  message.data = net::mail::normalize_crlf(data);
  message.meta.flags = std::move(*canonical);
  message.meta.internal_date_s = internal_date_s;
  message.meta.size = message.data.size();
  std::uint64_t quota = (*owner)->limits.quota_bytes;
  if (quota != 0 && total_bytes(**owner) + message.meta.size > quota) {
    return make_error(ErrorCategory::quota, "mailbox quota exceeded");
  }
  return store_message(**box, std::move(message));
}

Result<void> MemoryStore::set_flags(std::string_view user, std::string_view mailbox, std::uint32_t uid,
                                    const Flags& flags) {
  auto box = find_mailbox(user, mailbox);
  if (!box) return box.error();
  auto it = (*box)->messages.find(uid);
  if (it == (*box)->messages.end()) return not_found("no message with UID " + std::to_string(uid));
  auto canonical = canonical_flags(flags);
  if (!canonical) return canonical.error();
  if (it->second.meta.flags == *canonical) return {};
  it->second.meta.flags = std::move(*canonical);
  ++(*box)->modseq;
  ++change_counter_;
  return {};
}

Result<void> MemoryStore::expunge(std::string_view user, std::string_view mailbox,
                                  std::span<const std::uint32_t> uids) {
  auto box = find_mailbox(user, mailbox);
  if (!box) return box.error();
  bool changed = false;
  for (std::uint32_t uid : uids) changed = (*box)->messages.erase(uid) != 0 || changed;
  if (changed) {
    ++(*box)->modseq;
    ++change_counter_;
  }
  return {};
}

Result<std::uint32_t> MemoryStore::copy(std::string_view user, std::string_view from, std::uint32_t uid,
                                        std::string_view to) {
  auto owner = find_user(user);
  if (!owner) return owner.error();
  auto source = find_mailbox(user, from);
  if (!source) return source.error();
  auto target = find_mailbox(user, to);
  if (!target) return target.error();
  auto it = (*source)->messages.find(uid);
  if (it == (*source)->messages.end()) return not_found("no message with UID " + std::to_string(uid));
  Message message = it->second;
  std::uint64_t quota = (*owner)->limits.quota_bytes;
  if (quota != 0 && total_bytes(**owner) + message.meta.size > quota) {
    return make_error(ErrorCategory::quota, "mailbox quota exceeded");
  }
  return store_message(**target, std::move(message));
}

}  // namespace maillab::sim
