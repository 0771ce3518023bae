// Topology: every host as a labelled node with its role, laid out left to
// right along the path a message takes (MUA -> submission -> MX -> mailbox),
// the DNS server above; open connections as links carrying a coloured
// envelope labelled with protocol and port; down hosts greyed; queued mail
// stacked under its MTA with the next try time.
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <imgui.h>

#include "ui/panels.hpp"

namespace maillab::ui {
namespace {

constexpr std::size_t queue_stack_max = 4;
constexpr std::size_t compact_hosts_min = 16;  // lessons stay below: every node keeps its labels

int column_of(const HostView& host) {
  if (host.roles.count(Role::mua)) return 0;
  if (host.roles.count(Role::submission)) return 1;
  if (host.roles.count(Role::mx)) return 2;
  if (host.roles.count(Role::store)) return 3;
  return 2;
}

Text role_text(const HostView& host) {
  if (host.roles.count(Role::mua)) return Text::role_mua;
  if (host.roles.count(Role::dns)) return Text::role_dns;
  if (host.roles.count(Role::submission)) return Text::role_submission;
  if (host.roles.count(Role::mx)) return Text::role_mx;
  if (host.roles.count(Role::store)) return Text::role_mda;
  return Text::role_mta;
}

std::string port_label(const std::string& proto) {
  if (proto == "smtp") return "SMTP :25";
  if (proto == "submission") return "SMTP :587";
  if (proto == "pop3") return "POP3 :110";
  if (proto == "imap") return "IMAP :143";
  if (proto == "dns") return "DNS :53";
  return proto;
}

}  // namespace

void draw_topology(Frame& frame) {
  const auto& snap = frame.snapshot;
  auto& view = frame.view;
  const auto& trace = frame.lesson.trace;
  auto* draw = ImGui::GetWindowDrawList();
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  const ImVec2 size = ImGui::GetContentRegionAvail();
  const float font = ImGui::GetFontSize();

  // Place hosts: DNS servers on a top row, the others in four columns.  A
  // column with more hosts than fit splits into sub-columns, and nodes shrink
  // to labelled-less boxes when even that is too tight (a bench world has
  // hundreds of hosts; a lesson has a handful and never gets here).
  std::unordered_map<std::string, ImVec2> position;
  std::map<int, std::vector<const HostView*>> columns;
  std::vector<const HostView*> dns_hosts;
  for (const auto& host : snap.hosts) {
    if (host.roles.count(Role::dns) && host.roles.size() == 1) dns_hosts.push_back(&host);
    else columns[column_of(host)].push_back(&host);
  }
  const float top = origin.y + font * 4.5f;
  const float usable_h = std::max(size.y - font * 6.0f, font);
  const float full_h = font * 1.6f;  // half height of a labelled node
  const float full_w = std::min(font * 6.5f, size.x * 0.115f);
  float node_h = full_h;
  float node_w = full_w;
  std::size_t per_column_max = 1;
  for (const auto& [column, hosts] : columns) per_column_max = std::max(per_column_max, hosts.size());
  const auto rows_fit = static_cast<std::size_t>(std::max(1.0f, usable_h / (full_h * 2.6f)));
  std::size_t sub_columns = 1;
  if (per_column_max > rows_fit && snap.hosts.size() > compact_hosts_min) {
    sub_columns = std::min<std::size_t>(6, (per_column_max + rows_fit - 1) / rows_fit);
    const auto rows = (per_column_max + sub_columns - 1) / sub_columns;
    node_h = std::min(full_h, usable_h / static_cast<float>(rows) * 0.4f);
    node_w = std::min(full_w, size.x * 0.22f / static_cast<float>(sub_columns) * 0.45f);
  }
  const bool labelled = node_h >= full_h * 0.99f;
  for (auto& [column, hosts] : columns) {
    const auto rows = (hosts.size() + sub_columns - 1) / sub_columns;
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      const auto sub = static_cast<float>(i / std::max<std::size_t>(rows, 1));
      const float x = origin.x + size.x * (0.12f + 0.25f * static_cast<float>(column)) +
                      (sub - static_cast<float>(sub_columns - 1) / 2.0f) * size.x * 0.22f / static_cast<float>(sub_columns);
      const auto row = static_cast<float>(i % std::max<std::size_t>(rows, 1));
      const float y = top + usable_h * (row + 0.5f) / static_cast<float>(rows);
      position[hosts[i]->name] = ImVec2(x, y);
    }
  }
  for (std::size_t i = 0; i < dns_hosts.size(); ++i) {
    position[dns_hosts[i]->name] = ImVec2(origin.x + size.x * (0.5f + 0.2f * static_cast<float>(i)), origin.y + font * 1.8f);
  }

  // Links, each pair of hosts drawn once however many connections it carries.
  std::unordered_set<std::string> drawn;
  const auto pair_key = [](const std::string& a, const std::string& b) { return a < b ? a + '\n' + b : b + '\n' + a; };
  for (const auto& link : snap.open_links) {
    const auto a = position.find(link.src);
    const auto b = position.find(link.dst);
    if (a == position.end() || b == position.end()) continue;
    if (drawn.insert(pair_key(link.src, link.dst)).second) {
      draw->AddLine(a->second, b->second, IM_COL32(160, 160, 160, 255), 2.0f);
    }
  }
  // Envelopes, one per open connection, travelling from the newest line's
  // sender to its receiver; the protocol and port label once per host pair.
  drawn.clear();
  const float envelope = labelled ? font : std::max(font * 0.45f, node_h);
  for (const auto& link : snap.open_links) {
    if (link.last_event >= trace.events.size()) continue;
    const auto& line = trace.events[link.last_event];
    const auto from = position.find(line.src);
    const auto to = position.find(line.dst);
    if (from == position.end() || to == position.end()) continue;
    const float progress = static_cast<float>(std::clamp((view.time - line.t) / 0.05 + 0.25, 0.0, 1.0));
    const ImVec2 p(from->second.x + (to->second.x - from->second.x) * (progress * 0.8f + 0.1f),
                   from->second.y + (to->second.y - from->second.y) * (progress * 0.8f + 0.1f));
    const auto colour = link.msg.empty() ? IM_COL32(220, 220, 220, 255) : message_colour(trace.message_index(link.msg));
    draw->AddRectFilled(ImVec2(p.x - envelope * 0.8f, p.y - envelope * 0.5f), ImVec2(p.x + envelope * 0.8f, p.y + envelope * 0.5f),
                        colour, 2.0f);
    if (labelled) {
      draw->AddLine(ImVec2(p.x - envelope * 0.8f, p.y - envelope * 0.5f), ImVec2(p.x, p.y), IM_COL32(40, 40, 40, 255));
      draw->AddLine(ImVec2(p.x + envelope * 0.8f, p.y - envelope * 0.5f), ImVec2(p.x, p.y), IM_COL32(40, 40, 40, 255));
    }
    if (labelled && drawn.insert(pair_key(link.src, link.dst)).second) {
      const auto label = port_label(link.proto);
      draw->AddText(ImVec2(p.x + envelope, p.y - font * 0.5f), IM_COL32(255, 255, 255, 255), label.c_str());
    }
  }

  if (!labelled) {
    // A crowded world: say how much is moving instead of labelling it.
    const auto count = std::to_string(snap.open_links.size()) + " " + std::string(tr(view.lang, Text::in_flight)) + ", " +
                       std::to_string(snap.hosts.size()) + " " + std::string(tr(view.lang, Text::hosts_label));
    draw->AddText(ImVec2(origin.x, origin.y), IM_COL32(255, 255, 255, 255), count.c_str());
  }

  // Nodes.
  for (const auto& host : snap.hosts) {
    const auto it = position.find(host.name);
    if (it == position.end()) continue;
    const ImVec2 c = it->second;
    const bool dns_node = host.roles.count(Role::dns) && host.roles.size() == 1;
    const float w = dns_node || labelled ? full_w : node_w;
    const float h = dns_node || labelled ? full_h : node_h;
    const auto fill = host.down ? IM_COL32(70, 70, 70, 255) : IM_COL32(40, 70, 120, 255);
    draw->AddRectFilled(ImVec2(c.x - w, c.y - h), ImVec2(c.x + w, c.y + h), fill, labelled ? 6.0f : 2.0f);
    if (!labelled && !dns_node) {
      if (snap.queues.count(host.name)) {
        draw->AddRectFilled(ImVec2(c.x + w, c.y - h), ImVec2(c.x + w + h * 1.5f, c.y + h), IM_COL32(240, 200, 120, 255));
      }
      continue;
    }
    draw->AddRect(ImVec2(c.x - w, c.y - h), ImVec2(c.x + w, c.y + h), IM_COL32(200, 200, 200, 255), 6.0f);
    const auto text_colour = host.down ? IM_COL32(150, 150, 150, 255) : IM_COL32(255, 255, 255, 255);
    draw->AddText(ImVec2(c.x - w + font * 0.4f, c.y - h + font * 0.2f), text_colour, host.name.c_str());
    std::string role(tr(view.lang, role_text(host)));
    if (host.down) role += " - " + std::string(tr(view.lang, Text::host_down));
    draw->AddText(ImVec2(c.x - w + font * 0.4f, c.y - h + font * 1.3f), IM_COL32(190, 190, 190, 255), role.c_str());

    // Queued mail stacked under its MTA: the first few, then how many more.
    if (auto queue = snap.queues.find(host.name); queue != snap.queues.end()) {
      float y = c.y + h + font * 0.3f;
      std::size_t shown = 0;
      for (const auto& queued : queue->second) {
        if (shown == queue_stack_max) {
          draw->AddText(ImVec2(c.x - w + font * 1.3f, y - font * 0.1f), IM_COL32(240, 200, 120, 255),
                        ("+" + std::to_string(queue->second.size() - shown)).c_str());
          break;
        }
        const auto colour = message_colour(trace.message_index(queued.msg));
        draw->AddRectFilled(ImVec2(c.x - w, y), ImVec2(c.x - w + font, y + font * 0.8f), colour, 2.0f);
        std::string text = std::string(tr(view.lang, Text::queued_retry_at));
        text += queued.next_try_s >= 0 ? " " + format_time(queued.next_try_s) : std::string();
        draw->AddText(ImVec2(c.x - w + font * 1.3f, y - font * 0.1f), IM_COL32(240, 200, 120, 255), text.c_str());
        y += font * 1.1f;
        ++shown;
      }
    }
  }
  ImGui::Dummy(size);
}

}  // namespace maillab::ui
