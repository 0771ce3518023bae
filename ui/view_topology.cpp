// Topology: every host as a labelled node with its role, laid out left to
// right along the path a message takes (MUA -> submission -> MX -> mailbox),
// the DNS server above; open connections as links carrying a coloured
// envelope labelled with protocol and port; down hosts greyed; queued mail
// stacked under its MTA with the next try time.
#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include <imgui.h>

#include "ui/panels.hpp"

namespace maillab::ui {
namespace {

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

  // Place hosts: DNS servers on a top row, the others in four columns.
  std::map<std::string, ImVec2> position;
  std::map<int, std::vector<const HostView*>> columns;
  std::vector<const HostView*> dns_hosts;
  for (const auto& host : snap.hosts) {
    if (host.roles.count(Role::dns) && host.roles.size() == 1) dns_hosts.push_back(&host);
    else columns[column_of(host)].push_back(&host);
  }
  const float top = origin.y + font * 4.5f;
  for (auto& [column, hosts] : columns) {
    const float x = origin.x + size.x * (0.12f + 0.25f * static_cast<float>(column));
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      const float y = top + (size.y - font * 6.0f) * (static_cast<float>(i) + 0.5f) / static_cast<float>(hosts.size());
      position[hosts[i]->name] = ImVec2(x, y);
    }
  }
  for (std::size_t i = 0; i < dns_hosts.size(); ++i) {
    position[dns_hosts[i]->name] = ImVec2(origin.x + size.x * (0.5f + 0.2f * static_cast<float>(i)), origin.y + font * 1.8f);
  }

  // Links with their envelopes.
  for (const auto& link : snap.open_links) {
    const auto a = position.find(link.src);
    const auto b = position.find(link.dst);
    if (a == position.end() || b == position.end()) continue;
    draw->AddLine(a->second, b->second, IM_COL32(160, 160, 160, 255), 2.0f);
    if (link.last_event >= trace.events.size()) continue;
    const auto& line = trace.events[link.last_event];
    // The envelope travels from the line's sender to its receiver.
    const auto from = position.find(line.src);
    const auto to = position.find(line.dst);
    if (from == position.end() || to == position.end()) continue;
    const float progress = static_cast<float>(std::clamp((view.time - line.t) / 0.05 + 0.25, 0.0, 1.0));
    const ImVec2 p(from->second.x + (to->second.x - from->second.x) * progress * 0.8f + (to->second.x - from->second.x) * 0.1f,
                   from->second.y + (to->second.y - from->second.y) * progress * 0.8f + (to->second.y - from->second.y) * 0.1f);
    const auto colour = link.msg.empty() ? IM_COL32(220, 220, 220, 255) : message_colour(trace.message_index(link.msg));
    draw->AddRectFilled(ImVec2(p.x - font * 0.8f, p.y - font * 0.5f), ImVec2(p.x + font * 0.8f, p.y + font * 0.5f), colour, 2.0f);
    draw->AddLine(ImVec2(p.x - font * 0.8f, p.y - font * 0.5f), ImVec2(p.x, p.y), IM_COL32(40, 40, 40, 255));
    draw->AddLine(ImVec2(p.x + font * 0.8f, p.y - font * 0.5f), ImVec2(p.x, p.y), IM_COL32(40, 40, 40, 255));
    const auto label = port_label(link.proto);
    draw->AddText(ImVec2(p.x + font, p.y - font * 0.5f), IM_COL32(255, 255, 255, 255), label.c_str());
  }

  // Nodes.
  for (const auto& host : snap.hosts) {
    const auto it = position.find(host.name);
    if (it == position.end()) continue;
    const ImVec2 c = it->second;
    const float w = std::min(font * 6.5f, size.x * 0.115f);
    const float h = font * 1.6f;
    const auto fill = host.down ? IM_COL32(70, 70, 70, 255) : IM_COL32(40, 70, 120, 255);
    draw->AddRectFilled(ImVec2(c.x - w, c.y - h), ImVec2(c.x + w, c.y + h), fill, 6.0f);
    draw->AddRect(ImVec2(c.x - w, c.y - h), ImVec2(c.x + w, c.y + h), IM_COL32(200, 200, 200, 255), 6.0f);
    const auto text_colour = host.down ? IM_COL32(150, 150, 150, 255) : IM_COL32(255, 255, 255, 255);
    draw->AddText(ImVec2(c.x - w + font * 0.4f, c.y - h + font * 0.2f), text_colour, host.name.c_str());
    std::string role(tr(view.lang, role_text(host)));
    if (host.down) role += " - " + std::string(tr(view.lang, Text::host_down));
    draw->AddText(ImVec2(c.x - w + font * 0.4f, c.y - h + font * 1.3f), IM_COL32(190, 190, 190, 255), role.c_str());

    // Queued mail stacked under its MTA.
    if (auto queue = snap.queues.find(host.name); queue != snap.queues.end()) {
      float y = c.y + h + font * 0.3f;
      for (const auto& queued : queue->second) {
        const auto colour = message_colour(trace.message_index(queued.msg));
        draw->AddRectFilled(ImVec2(c.x - w, y), ImVec2(c.x - w + font, y + font * 0.8f), colour, 2.0f);
        std::string text = std::string(tr(view.lang, Text::queued_retry_at));
        text += queued.next_try_s >= 0 ? " " + format_time(queued.next_try_s) : std::string();
        draw->AddText(ImVec2(c.x - w + font * 1.3f, y - font * 0.1f), IM_COL32(240, 200, 120, 255), text.c_str());
        y += font * 1.1f;
      }
    }
  }
  ImGui::Dummy(size);
}

}  // namespace maillab::ui
