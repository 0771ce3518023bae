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
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include <imgui.h>

#include "ui/model/envelopes.hpp"
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

struct Box {
  ImVec2 min;
  ImVec2 max;
};

ImVec2 operator+(ImVec2 a, ImVec2 b) { return ImVec2(a.x + b.x, a.y + b.y); }
ImVec2 operator-(ImVec2 a, ImVec2 b) { return ImVec2(a.x - b.x, a.y - b.y); }

float overlap_area(const Box& a, const Box& b) {
  const float w = std::min(a.max.x, b.max.x) - std::max(a.min.x, b.min.x);
  const float h = std::min(a.max.y, b.max.y) - std::max(a.min.y, b.min.y);
  return w > 0 && h > 0 ? w * h : 0.0f;
}

// Where a label goes beside an envelope: right, left, above or below it,
// the first that covers nothing already taken, else the one that covers least.
ImVec2 place_label(const Box& anchor, ImVec2 size, const std::vector<Box>& taken, float gap) {
  const float mid_y = (anchor.min.y + anchor.max.y - size.y) / 2;
  const float mid_x = (anchor.min.x + anchor.max.x - size.x) / 2;
  const ImVec2 candidates[] = {ImVec2(anchor.max.x + gap, mid_y), ImVec2(anchor.min.x - gap - size.x, mid_y),
                               ImVec2(mid_x, anchor.min.y - gap - size.y), ImVec2(mid_x, anchor.max.y + gap)};
  ImVec2 best = candidates[0];
  float best_cover = -1;
  for (const auto& at : candidates) {
    const Box box{at, at + size};
    float cover = 0;
    for (const auto& other : taken) cover += overlap_area(box, other);
    if (best_cover < 0 || cover < best_cover) {
      best = at;
      best_cover = cover;
    }
    if (cover == 0) break;
  }
  return best;
}

// The part of the segment a -> b outside both boxes (what a node occupies,
// its queue stack included, grown by half an envelope): where an envelope
// travels so that nothing hides it.  Boxes that meet leave the midpoint.
std::pair<ImVec2, ImVec2> between_boxes(ImVec2 a, const Box& a_box, ImVec2 b, const Box& b_box) {
  const ImVec2 d = b - a;
  const auto leave = [](ImVec2 c, ImVec2 dir, const Box& box) {  // where c + t * dir leaves box
    const auto axis = [](float from, float step, float lo, float hi) {
      if (std::abs(step) < 1e-3f) return 1e9f;
      return std::max(step > 0 ? (hi - from) / step : (lo - from) / step, 0.0f);
    };
    return std::min(axis(c.x, dir.x, box.min.x, box.max.x), axis(c.y, dir.y, box.min.y, box.max.y));
  };
  float ta = leave(a, d, a_box);
  float tb = leave(b, ImVec2(-d.x, -d.y), b_box);
  if (ta + tb >= 1.0f) ta = tb = 0.5f;
  return {ImVec2(a.x + d.x * ta, a.y + d.y * ta), ImVec2(b.x - d.x * tb, b.y - d.y * tb)};
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
  std::unordered_map<std::string_view, ImVec2> position;  // keys view snap.hosts
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

  // A node's box, for drawing and for keeping envelopes and labels off it.
  const auto half_size = [&](const HostView& host) {
    const bool dns_node = host.roles.count(Role::dns) && host.roles.size() == 1;
    return dns_node || labelled ? ImVec2(full_w, full_h) : ImVec2(node_w, node_h);
  };
  std::unordered_map<std::string_view, ImVec2> half;
  std::unordered_map<std::string_view, Box> occupied;  // node and queue stack
  std::vector<Box> taken;  // what labels must not cover: nodes, queue stacks, labels already placed
  for (const auto& host : snap.hosts) {
    const auto it = position.find(host.name);
    if (it == position.end()) continue;
    half[host.name] = half_size(host);
    occupied[host.name] = Box{it->second - half[host.name], it->second + half[host.name]};
    if (labelled) taken.push_back(Box{it->second - half[host.name], it->second + half[host.name]});
  }

  // Links, each pair of hosts drawn once however many connections it carries.
  // A crowded world draws whole links only for the host under the mouse and
  // the selected message: hundreds of long lines are an unreadable tangle and
  // the dearest thing llvmpipe draws (every 4x4 block a line crosses is
  // shaded).  Every other connection shows as its envelope glyph with a trail
  // pointing back to the sender.
  std::string_view hovered;
  if (!labelled && ImGui::IsWindowHovered()) {
    const ImVec2 mouse = ImGui::GetIO().MousePos;
    for (const auto& [name, box] : occupied) {
      if (mouse.x >= box.min.x && mouse.x <= box.max.x && mouse.y >= box.min.y && mouse.y <= box.max.y) hovered = name;
    }
  }
  std::set<std::pair<const ImVec2*, const ImVec2*>> drawn;
  const auto pair_of = [](const ImVec2* a, const ImVec2* b) { return a < b ? std::make_pair(a, b) : std::make_pair(b, a); };
  const auto draw_flags = draw->Flags;
  if (!labelled) draw->Flags &= ~ImDrawListFlags_AntiAliasedLines;
  for (const auto& link : snap.open_links) {
    const auto a = position.find(link.src);
    const auto b = position.find(link.dst);
    if (a == position.end() || b == position.end()) continue;
    const bool whole = labelled || link.src == hovered || link.dst == hovered ||
                       (!view.selected_message.empty() && link.msg == view.selected_message);
    if (whole && drawn.insert(pair_of(&a->second, &b->second)).second) {
      draw->AddLine(a->second, b->second, IM_COL32(160, 160, 160, 255), labelled ? 2.0f : 1.0f);
    }
  }
  draw->Flags = draw_flags;

  if (!labelled) {
    // A crowded world: say how much is moving instead of labelling it.
    const auto count = std::to_string(snap.open_links.size()) + " " + std::string(tr(view.lang, Text::in_flight)) + ", " +
                       std::to_string(snap.hosts.size()) + " " + std::string(tr(view.lang, Text::hosts_label));
    draw->AddText(ImVec2(origin.x, origin.y), IM_COL32(255, 255, 255, 255), count.c_str());
  }

  // Nodes.  Square corners in a crowded world: a rounded, anti-aliased box is
  // ten times the triangles, each a sliver llvmpipe shades block by block.
  for (const auto& host : snap.hosts) {
    const auto it = position.find(host.name);
    if (it == position.end()) continue;
    const ImVec2 c = it->second;
    const ImVec2 h = half[host.name];
    const bool dns_node = host.roles.count(Role::dns) && host.roles.size() == 1;
    const auto fill = host.down ? IM_COL32(70, 70, 70, 255) : IM_COL32(40, 70, 120, 255);
    draw->AddRectFilled(c - h, c + h, fill, labelled ? 6.0f : 0.0f);
    if (!labelled && !dns_node) {
      if (snap.queues.count(host.name)) {
        draw->AddRectFilled(ImVec2(c.x + h.x, c.y - h.y), ImVec2(c.x + h.x + h.y * 1.5f, c.y + h.y), IM_COL32(240, 200, 120, 255));
      }
      continue;
    }
    draw->AddRect(c - h, c + h, IM_COL32(200, 200, 200, 255), labelled ? 6.0f : 0.0f);
    const auto text_colour = host.down ? IM_COL32(150, 150, 150, 255) : IM_COL32(255, 255, 255, 255);
    draw->AddText(ImVec2(c.x - h.x + font * 0.4f, c.y - h.y + font * 0.2f), text_colour, host.name.c_str());
    std::string role(tr(view.lang, role_text(host)));
    if (host.down) role += " - " + std::string(tr(view.lang, Text::host_down));
    draw->AddText(ImVec2(c.x - h.x + font * 0.4f, c.y - h.y + font * 1.3f), IM_COL32(190, 190, 190, 255), role.c_str());
  }

  // Queued mail stacked under its MTA: the first few, then how many more.
  // Drawn after every node so that a neighbour never covers the text.
  if (labelled) {
    for (const auto& [host, queue] : snap.queues) {
      const auto it = position.find(host);
      if (it == position.end()) continue;
      const ImVec2 c = it->second;
      const ImVec2 h = half[host];
      float y = c.y + h.y + font * 0.3f;
      std::size_t shown = 0;
      for (const auto& queued : queue) {
        const ImVec2 at(c.x - h.x + font * 1.3f, y - font * 0.1f);
        if (shown == queue_stack_max) {
          const auto more = "+" + std::to_string(queue.size() - shown);
          draw->AddText(at, IM_COL32(240, 200, 120, 255), more.c_str());
          taken.push_back(Box{at, at + ImGui::CalcTextSize(more.c_str())});
          break;
        }
        const auto colour = message_colour(trace.message_index(queued.msg));
        draw->AddRectFilled(ImVec2(c.x - h.x, y), ImVec2(c.x - h.x + font, y + font * 0.8f), colour, 2.0f);
        std::string text = std::string(tr(view.lang, Text::queued_retry_at));
        text += queued.next_try_s >= 0 ? " " + format_time(queued.next_try_s) : std::string();
        draw->AddText(at, IM_COL32(240, 200, 120, 255), text.c_str());
        const Box stacked{ImVec2(c.x - h.x, y), at + ImGui::CalcTextSize(text.c_str())};
        taken.push_back(stacked);
        auto& box = occupied[host];
        box.max = ImVec2(std::max(box.max.x, stacked.max.x), std::max(box.max.y, stacked.max.y));
        y += font * 1.1f;
        ++shown;
      }
    }
  }

  // Envelopes: one glyph per place on a link, with how many it holds when
  // more than one (envelopes.hpp), travelling between the two nodes' edges.
  // The protocol and port ride on the first glyph of each host pair, placed
  // where it covers no node, queue or other label.
  const float envelope = labelled ? font : std::max(font * 0.45f, node_h);
  const ImVec2 envelope_half(envelope * 0.8f, envelope * 0.5f);
  // The badge's own size from the atlas: drawn 1:1, never scaled (panels.hpp).
  ImFont* const badge_font = font_sized(font * (labelled ? badge_scale_labelled : badge_scale_crowded));
  const float badge_size = badge_font != nullptr ? badge_font->FontSize : font * badge_scale_crowded;
  drawn.clear();
  // Where each glyph travels (between the node edges) and where it is now.
  struct Placed {
    ImVec2 start;
    ImVec2 at;
    const ImVec2* from = nullptr;  // node positions: the key of a host pair
    const ImVec2* to = nullptr;
  };
  const auto glyphs = envelope_glyphs(snap, trace, view.time, view.selected_message);
  std::vector<Placed> placed(glyphs.size());
  std::vector<ScreenPoint> at_points(glyphs.size());
  for (std::size_t i = 0; i < glyphs.size(); ++i) {
    const auto& glyph = glyphs[i];
    const auto from = position.find(glyph.from);
    const auto to = position.find(glyph.to);
    if (from == position.end() || to == position.end()) continue;
    const auto grown = [&](std::string_view host) {
      const auto& box = occupied[host];
      return Box{box.min - envelope_half, box.max + envelope_half};
    };
    const auto [start, end] = between_boxes(from->second, grown(glyph.from), to->second, grown(glyph.to));
    const auto t = static_cast<float>(glyph.progress);
    placed[i] = Placed{start, ImVec2(start.x + (end.x - start.x) * t, start.y + (end.y - start.y) * t), &from->second,
                       &to->second};
    at_points[i] = ScreenPoint{placed[i].at.x - origin.x, placed[i].at.y - origin.y};
  }
  // A crowded world also stacks glyphs of different links that land on the
  // same envelope-sized cell of the screen (envelopes.hpp): they would cover
  // each other, and each costs llvmpipe a body, a trail and a badge.
  std::vector<std::size_t> counts;
  if (labelled) {
    for (const auto& glyph : glyphs) counts.push_back(glyph.count);
  } else {
    counts = stack_by_cell(glyphs, at_points, envelope_half.x * 2, envelope_half.y * 2);
  }
  for (std::size_t i = 0; i < glyphs.size(); ++i) {
    const auto& glyph = glyphs[i];
    if (placed[i].from == nullptr || counts[i] == 0) continue;
    const ImVec2 start = placed[i].start;
    const ImVec2 p = placed[i].at;
    const auto& link = snap.open_links[glyph.link];
    const auto colour = link.msg.empty() ? IM_COL32(220, 220, 220, 255) : message_colour(trace.message_index(link.msg));
    const Box body{p - envelope_half, p + envelope_half};
    if (!labelled) {
      const ImVec2 back(start.x - p.x, start.y - p.y);
      const float length = std::sqrt(back.x * back.x + back.y * back.y);
      // Little more than an envelope long: a diagonal line's cost under
      // llvmpipe grows with the square its bounds cover (4 envelopes' trails
      // were 14% of the heavy trace's drawing; these are 4%).
      const float trail = std::min(length, envelope * 1.2f);
      if (length > 0.5f) {
        draw->Flags &= ~ImDrawListFlags_AntiAliasedLines;
        draw->AddLine(p, ImVec2(p.x + back.x / length * trail, p.y + back.y / length * trail), IM_COL32(160, 160, 160, 255));
        draw->Flags = draw_flags;
      }
    }
    draw->AddRectFilled(body.min, body.max, colour, labelled ? 2.0f : 0.0f);
    if (labelled) {
      draw->AddLine(body.min, p, IM_COL32(40, 40, 40, 255));
      draw->AddLine(ImVec2(body.max.x, body.min.y), p, IM_COL32(40, 40, 40, 255));
    }
    if (glyph.selected) draw->AddRect(body.min - ImVec2(2, 2), body.max + ImVec2(2, 2), IM_COL32(255, 255, 0, 255));
    if (counts[i] > 1) {
      const auto badge = "\u00d7" + std::to_string(counts[i]);
      draw->AddText(badge_font, badge_size, ImVec2(body.max.x + 1.0f, body.min.y - badge_size * 0.5f),
                    IM_COL32(255, 255, 255, 255), badge.c_str());
    }
    if (labelled && drawn.insert(pair_of(placed[i].from, placed[i].to)).second) {
      const auto label = port_label(link.proto);
      const ImVec2 label_size = ImGui::CalcTextSize(label.c_str());
      const ImVec2 at = place_label(body, label_size, taken, font * 0.3f);
      draw->AddText(at, IM_COL32(255, 255, 255, 255), label.c_str());
      taken.push_back(Box{at, at + label_size});
    }
  }
  ImGui::Dummy(size);
}

}  // namespace maillab::ui
