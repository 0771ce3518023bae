// The studio's window and frame loop.  Layout (fixed, so a projector always
// shows the same thing): topology and sequence diagram on the left, the
// transcript and the side panels on the right, the timeline along the bottom.
// --screenshot renders a few frames into a hidden window and writes a PNG.
#include "ui/studio.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>
#include <GL/gl.h>
#include <backends/imgui_impl_glfw.h>
#include <backends/imgui_impl_opengl3.h>
#include <imgui.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include "ui/model/snapshot.hpp"
#include "ui/panels.hpp"
#include "ui/view_files.hpp"
#include "ui/view_live.hpp"

namespace maillab::ui {
namespace {

constexpr const char* font_path = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

struct Fonts {
  ImFont* normal = nullptr;
  ImFont* presenter = nullptr;
};

// Text is drawn 1:1 from the atlas: each size is rasterised once, at whole
// pixels (no 3x horizontal oversampling), so every screen pixel of a glyph
// is one texel and the atlas can be sampled GL_NEAREST (nearest_atlas()).
// Under llvmpipe every fragment of the frame (fills too: they sample the
// atlas's white texel) costs a quarter of the texture reads of GL_LINEAR.
// The envelope badges' sizes (font_sized()) are loaded too, so no text is
// scaled from another size.
constexpr float normal_px = 17.0f;
constexpr float presenter_px = 28.0f;

Fonts load_fonts() {
  Fonts fonts;
  auto& io = ImGui::GetIO();
  if (std::filesystem::exists(font_path)) {
    ImFontConfig config;
    config.OversampleH = 1;
    config.OversampleV = 1;
    config.PixelSnapH = true;
    fonts.normal = io.Fonts->AddFontFromFileTTF(font_path, normal_px, &config);
    fonts.presenter = io.Fonts->AddFontFromFileTTF(font_path, presenter_px, &config);
    for (const float px : {normal_px, presenter_px}) {
      for (const float scale : {badge_scale_labelled, badge_scale_crowded}) {
        io.Fonts->AddFontFromFileTTF(font_path, std::round(px * scale), &config);
      }
    }
  }
  if (fonts.normal == nullptr) fonts.normal = io.Fonts->AddFontDefault();
  if (fonts.presenter == nullptr) fonts.presenter = fonts.normal;
  return fonts;
}

// The atlas is drawn 1:1 (load_fonts()), so nearest sampling gives the same
// pixels as linear and costs llvmpipe a quarter of the texel reads.
void nearest_atlas() {
  const auto texture = static_cast<GLuint>(reinterpret_cast<std::intptr_t>(ImGui::GetIO().Fonts->TexID));
  glBindTexture(GL_TEXTURE_2D, texture);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
  glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
}

void apply_style(bool presenter) {
  ImGui::StyleColorsDark();
  auto& style = ImGui::GetStyle();
  style.WindowRounding = 4.0f;
  // ImGui's textured anti-aliased lines need a linearly filtered atlas;
  // with nearest_atlas() lines take their anti-aliasing from geometry.
  style.AntiAliasedLinesUseTex = false;
  if (presenter) {
    // High contrast for a projector: pure black panels, bright text.
    style.Colors[ImGuiCol_WindowBg] = ImVec4(0, 0, 0, 1);
    style.Colors[ImGuiCol_ChildBg] = ImVec4(0, 0, 0, 0);  // black: the backdrop shows through
    style.Colors[ImGuiCol_Text] = ImVec4(1, 1, 1, 1);
    style.Colors[ImGuiCol_Border] = ImVec4(1, 1, 1, 0.8f);
  }
}

struct Studio {
  StudioOptions options;
  Lesson lesson;
  ViewState view;
  SnapshotCache playback;
  std::vector<LessonEntry> lessons;
  // Live mode: the live lesson grows from the lab server's trace; while a
  // recorded lesson is shown instead it waits (still growing) in parked_live.
  LivePanel live;
  Lesson parked_live;
  bool showing_live = false;
  FileBrowser browser;
  bool browsing = false;
  bool focus_browser = false;
  bool quit = false;
  bool applied_presenter = false;

  Lesson& live_lesson() { return showing_live ? lesson : parked_live; }

  void load(const std::string& path) {
    if (showing_live) {
      parked_live = std::move(lesson);
      showing_live = false;
    }
    lesson = load_lesson(path, view.lang);
    playback.clear();
    reset_view();
  }

  // Another lesson starts from a fresh view; language and presenter mode stay the teacher's.
  void reset_view() {
    const auto lang = view.lang;
    const auto presenter = view.presenter;
    view = ViewState{};
    view.lang = lang;
    view.presenter = presenter;
  }

  void show_live() {
    if (!showing_live) {
      lesson = std::move(parked_live);
      parked_live = Lesson{};
      showing_live = true;
    }
    playback.clear();
    reset_view();
    follow_now(view, lesson.trace, options.live != nullptr ? options.live->now_s() : 0.0);
  }

  // Runs what the lab server has due and brings its events into the live lesson.
  void poll_live(double wait_s) {
    if (options.live == nullptr) return;
    options.live->poll(wait_s);
    if (options.live_feed != nullptr) options.live_feed->drain_into(live_lesson());
  }

  // The lesson words follow the language; the playhead stays where it is.
  void relabel() {
    lessons = list_lessons(options.scenarios_dir, view.lang);
    for (const auto& entry : lessons) {
      if (entry.path == lesson.path) {
        lesson.title = entry.title;
        lesson.description = entry.description;
      }
    }
  }

  void open_browser() {
    browser = browse(browser_start(lesson.path, options.scenarios_dir));
    browsing = true;
    focus_browser = true;
  }

  // The Lessons menu's "Open scenario...": a window over the panels until a
  // file is chosen (its errors then show as FILE:LINE:COL) or it is closed.
  void file_window() {
    if (!browsing) return;
    const auto* viewport = ImGui::GetMainViewport();
    ImGui::SetNextWindowPos(ImVec2(viewport->WorkPos.x + viewport->WorkSize.x * 0.2f,
                                   viewport->WorkPos.y + viewport->WorkSize.y * 0.1f),
                            ImGuiCond_Appearing);
    ImGui::SetNextWindowSize(ImVec2(viewport->WorkSize.x * 0.6f, viewport->WorkSize.y * 0.7f), ImGuiCond_Appearing);
    if (focus_browser) ImGui::SetNextWindowFocus();
    focus_browser = false;
    const std::string title = std::string(tr(view.lang, Text::file_browser)) + "###files";
    if (ImGui::Begin(title.c_str(), &browsing, ImGuiWindowFlags_NoCollapse)) {
      if (auto chosen = draw_file_browser(browser, view.lang)) {
        load(*chosen);
        browsing = false;
      }
    }
    ImGui::End();
  }

  void menu() {
    if (!ImGui::BeginMainMenuBar()) return;
    const auto label = [&](Text text) { return std::string(tr(view.lang, text)); };
    if (ImGui::BeginMenu(label(Text::menu_lessons).c_str())) {
      if (options.live_mode) {
        if (ImGui::MenuItem((label(Text::live_mode) + ": " + options.live_title).c_str(), nullptr, showing_live)) {
          show_live();
        }
        ImGui::Separator();
      }
      for (const auto& entry : lessons) {
        if (ImGui::MenuItem(entry.title.c_str(), nullptr, entry.path == lesson.path)) load(entry.path);
        if (ImGui::IsItemHovered() && !entry.description.empty()) {
          ImGui::BeginTooltip();
          ImGui::PushTextWrapPos(ImGui::GetFontSize() * 35.0f);
          ImGui::TextUnformatted(entry.description.c_str());
          ImGui::PopTextWrapPos();
          ImGui::EndTooltip();
        }
      }
      ImGui::Separator();
      if (ImGui::MenuItem(label(Text::menu_open).c_str())) open_browser();
      ImGui::Separator();
      if (ImGui::MenuItem(label(Text::menu_quit).c_str())) quit = true;
      ImGui::EndMenu();
    }
    if (ImGui::BeginMenu(label(Text::menu_language).c_str())) {
      const auto before = view.lang;
      if (ImGui::MenuItem("English", nullptr, view.lang == Lang::en)) view.lang = Lang::en;
      if (ImGui::MenuItem("Bahasa Indonesia", nullptr, view.lang == Lang::id)) view.lang = Lang::id;
      if (view.lang != before) relabel();
      ImGui::EndMenu();
    }
    if (ImGui::BeginMenu(label(Text::menu_view).c_str())) {
      ImGui::MenuItem(label(Text::menu_presenter).c_str(), nullptr, &view.presenter);
      ImGui::EndMenu();
    }
    if (showing_live) {
      ImGui::TextColored(ImVec4(1, 0.35f, 0.35f, 1), "  %s", label(Text::live_mode).c_str());
    }
    ImGui::TextDisabled("  %s", lesson.title.c_str());
    ImGui::EndMainMenuBar();
  }

  // One panel alone, filling the window (--panel NAME screenshots).
  void solo_panel(const std::string& name) {
    const auto& snapshot = playback.at(lesson.trace, view.cursor);
    Frame frame{lesson, snapshot, view};
    struct Solo {
      const char* name;
      Text title;
      void (*draw)(Frame&);
    };
    static constexpr Solo solos[] = {
        {"topology", Text::panel_topology, draw_topology},    {"transcript", Text::panel_transcript, draw_transcript},
        {"timeline", Text::panel_timeline, draw_timeline},    {"sequence", Text::panel_sequence, draw_sequence},
        {"message", Text::panel_message, draw_message},       {"dns", Text::panel_dns, draw_dns},
        {"queues", Text::panel_queues, draw_queues},          {"mailboxes", Text::panel_mailboxes, draw_mailboxes},
        {"routes", Text::panel_routes, draw_routes},          {"lesson", Text::panel_lessons, draw_lesson_tab}};
    const auto* viewport = ImGui::GetMainViewport();
    ImGui::SetNextWindowPos(viewport->WorkPos);
    ImGui::SetNextWindowSize(viewport->WorkSize);
    if (name == "files") {
      ImGui::Begin((std::string(tr(view.lang, Text::file_browser)) + "###solo").c_str(), nullptr,
                   ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoCollapse);
      if (auto chosen = draw_file_browser(browser, view.lang)) load(*chosen);
      ImGui::End();
      return;
    }
    ImGui::SetNextWindowBgAlpha(0.0f);
    for (const auto& solo : solos) {
      if (name != solo.name) continue;
      ImGui::Begin((std::string(tr(view.lang, solo.title)) + "###solo").c_str(), nullptr,
                   ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoCollapse);
      solo.draw(frame);
      ImGui::End();
    }
  }

  void panels() {
    const auto& snapshot = playback.at(lesson.trace, view.cursor);
    Frame frame{lesson, snapshot, view};
    const auto* viewport = ImGui::GetMainViewport();
    const ImVec2 pos = viewport->WorkPos;
    const ImVec2 size = viewport->WorkSize;
    const float timeline_h = ImGui::GetFontSize() * 4.2f;
    const float body_h = size.y - timeline_h;
    const float left_w = size.x * 0.56f;
    const auto flags = ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoCollapse;
    const auto place = [&](float x, float y, float w, float h) {
      ImGui::SetNextWindowPos(ImVec2(pos.x + x, pos.y + y));
      ImGui::SetNextWindowSize(ImVec2(w, h));
      ImGui::SetNextWindowBgAlpha(0.0f);  // the tiled panels show the backdrop (backdrop_colour())
    };
    const auto title = [&](Text text, const char* id) { return std::string(tr(view.lang, text)) + "###" + id; };

    if (!lesson.errors.empty()) {
      place(0, 0, size.x, body_h);
      ImGui::Begin(title(Text::lesson_errors, "errors").c_str(), nullptr, flags);
      for (const auto& error : lesson.errors) ImGui::TextColored(ImVec4(1, 0.4f, 0.4f, 1), "%s", error.c_str());
      ImGui::End();
    } else {
      place(0, 0, left_w, body_h * 0.55f);
      ImGui::Begin(title(Text::panel_topology, "topology").c_str(), nullptr, flags);
      draw_topology(frame);
      ImGui::End();
      place(0, body_h * 0.55f, left_w, body_h * 0.45f);
      ImGui::Begin(title(Text::panel_sequence, "sequence").c_str(), nullptr, flags);
      draw_sequence(frame);
      ImGui::End();
      // Live mode puts the lab's sessions between the transcript and the tabs.
      const float transcript_h = body_h * (options.live_mode ? 0.42f : 0.5f);
      const float live_h = options.live_mode ? body_h * 0.24f : 0.0f;
      place(left_w, 0, size.x - left_w, transcript_h);
      ImGui::Begin(title(Text::panel_transcript, "transcript").c_str(), nullptr, flags);
      draw_transcript(frame);
      ImGui::End();
      if (options.live_mode) {
        place(left_w, transcript_h, size.x - left_w, live_h);
        ImGui::Begin(title(Text::live_sessions, "live").c_str(), nullptr, flags);
        draw_live_panel(live, live_lesson(), view);
        ImGui::End();
      }
      place(left_w, transcript_h + live_h, size.x - left_w, body_h - transcript_h - live_h);
      ImGui::Begin("###side", nullptr, flags | ImGuiWindowFlags_NoTitleBar);
      draw_side_panels(frame);
      ImGui::End();
    }
    place(0, body_h, size.x, timeline_h);
    ImGui::Begin(title(Text::panel_timeline, "timeline").c_str(), nullptr, flags);
    draw_timeline(frame);
    ImGui::End();
  }
};

constexpr int bench_warmup_frames = 5;
constexpr int frames_before_screenshot = 4;  // ImGui sizes windows and fonts on the first frames

double process_cpu_ms() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1000.0 + static_cast<double>(now.tv_nsec) / 1e6;
}

// Frame times: whole frame, and the part spent building the ImGui frame (our
// panels and the view model) before OpenGL draws it.
void report_frames(std::vector<double> ms, std::vector<double> build_ms, std::vector<double> cpu_ms, const Studio& studio,
                   std::size_t in_flight, int vertices) {
  if (ms.empty()) return;
  std::sort(ms.begin(), ms.end());
  std::sort(build_ms.begin(), build_ms.end());
  std::sort(cpu_ms.begin(), cpu_ms.end());
  const auto pick = [](const std::vector<double>& v, double q) {
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
  };
  std::printf("frames %zu  median %.2f ms  p95 %.2f ms  max %.2f ms  build median %.2f p95 %.2f ms  "
              "cpu median %.2f p95 %.2f ms  %d vertices  (%zu events, %zu lines, %zu in flight at start, playhead %.3f s)\n",
              ms.size(), pick(ms, 0.5), pick(ms, 0.95), ms.back(), pick(build_ms, 0.5), pick(build_ms, 0.95),
              pick(cpu_ms, 0.5), pick(cpu_ms, 0.95), vertices, studio.lesson.trace.events.size(), studio.lesson.lines.size(), in_flight, studio.view.time);
}

bool write_png(const std::string& path, int width, int height) {
  std::vector<unsigned char> pixels(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 4);
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  glReadBuffer(GL_BACK);
  glReadPixels(0, 0, width, height, GL_RGBA, GL_UNSIGNED_BYTE, pixels.data());
  // OpenGL's rows start at the bottom; PNG's at the top.
  stbi_flip_vertically_on_write(1);
  stbi_write_force_png_filter = 0;  // unfiltered rows: the screenshot test reads them without decoding filters
  return stbi_write_png(path.c_str(), width, height, 4, pixels.data(), width * 4) != 0;
}

}  // namespace

const std::vector<std::string>& studio_panels() {
  static const std::vector<std::string> names{"topology", "transcript", "timeline", "sequence",  "message", "dns",
                                              "queues",   "mailboxes",  "routes",   "lesson",    "files",
                                              "presenter"};
  return names;
}

int run_studio(const StudioOptions& options) {
  std::vector<std::string> shots;  // panels still to photograph, in order
  if (options.panel == "all") {
    shots = studio_panels();
  } else if (!options.panel.empty()) {
    const auto& names = studio_panels();
    if (std::find(names.begin(), names.end(), options.panel) == names.end()) {
      std::fprintf(stderr, "maillab-studio: unknown --panel '%s'\n", options.panel.c_str());
      return 2;
    }
    shots.push_back(options.panel);
  }
  Studio studio;
  studio.options = options;
  studio.view.lang = options.lang;
  studio.view.presenter = options.presenter;
  studio.lessons = list_lessons(options.scenarios_dir, studio.view.lang);
  std::string path = options.scenario;
  if (path.empty() && !studio.lessons.empty()) path = studio.lessons.front().path;
  if (options.live_mode) {
    studio.live = LivePanel{options.live, options.live_feed, options.live_listening, options.live_error};
    studio.parked_live.title = options.live_title;
    studio.parked_live.path = options.scenario;
    studio.show_live();
  } else if (path.empty()) {
    std::fprintf(stderr, "maillab-studio: no scenario given and none found in %s\n", options.scenarios_dir.c_str());
    return 2;
  } else {
    studio.load(path);
  }
  studio.browser = browse(browser_start(studio.lesson.path, options.scenarios_dir));
  if (options.screenshot && !studio.lesson.errors.empty()) {
    for (const auto& error : studio.lesson.errors) std::fprintf(stderr, "%s\n", error.c_str());
    return 2;
  }
  if (options.live_mode) {
    // The playhead follows the present (show_live).
  } else if (options.at_s) seek(studio.view, studio.lesson.trace, *options.at_s);
  else if (options.screenshot) seek(studio.view, studio.lesson.trace, studio.lesson.trace.end_time());
  if (options.select) studio.view.selected_message = *options.select;
  if (!shots.empty() && shots.front() == "presenter") studio.view.presenter = true;
  if (!shots.empty() && shots.front() == "message" && studio.view.selected_message.empty() &&
      !studio.lesson.trace.messages.empty()) {
    studio.view.selected_message = studio.lesson.trace.messages.front();
  }
  const bool offscreen = options.screenshot || options.bench_frames > 0 || options.live_for_s > 0;
  if (options.bench_frames > 0) {
    studio.view.playing = true;
    studio.view.speed = options.bench_speed;
  }

  glfwSetErrorCallback([](int code, const char* text) { std::fprintf(stderr, "glfw error %d: %s\n", code, text); });
  if (!glfwInit()) {
    std::fprintf(stderr, "maillab-studio: cannot open a display (try xvfb-run, or `maillab run` for a transcript)\n");
    return 1;
  }
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
  glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
  if (offscreen) glfwWindowHint(GLFW_VISIBLE, GLFW_FALSE);
  GLFWwindow* window = glfwCreateWindow(options.width, options.height, "maillab studio", nullptr, nullptr);
  if (window == nullptr) {
    glfwTerminate();
    std::fprintf(stderr, "maillab-studio: cannot create an OpenGL 3.3 window\n");
    return 1;
  }
  glfwMakeContextCurrent(window);
  glfwSwapInterval(offscreen ? 0 : 1);

  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGui::GetIO().IniFilename = nullptr;  // the layout is fixed; nothing to remember
  const auto fonts = load_fonts();
  ImGui_ImplGlfw_InitForOpenGL(window, true);
  ImGui_ImplOpenGL3_Init("#version 330");

  int status = 0;
  int frames = 0;
  double last = glfwGetTime();
  std::vector<double> frame_ms;
  std::vector<double> build_ms;
  std::vector<double> cpu_ms;  // CPU time of every thread of ours (llvmpipe's included): what the frame costs on a busy machine
  int last_vertices = 0;
  const std::size_t in_flight_at_start = studio.playback.at(studio.lesson.trace, studio.view.cursor).open_links.size();
  const double live_start = glfwGetTime();
  while (!glfwWindowShouldClose(window) && !studio.quit) {
    const auto frame_start = std::chrono::steady_clock::now();
    const double frame_cpu_start = process_cpu_ms();
    glfwPollEvents();
    // One thread: the lab server's handlers run here, between frames.  A
    // hidden window does not wait for the display, so it waits for the server.
    studio.poll_live(offscreen ? 0.005 : 0.0);
    const double now = glfwGetTime();
    const bool live_done = options.live_for_s > 0 && now - live_start >= options.live_for_s;
    const bool benching = options.bench_frames > 0 && frames >= bench_warmup_frames;
    if (studio.showing_live) {
      advance_live(studio.view, studio.lesson.trace, now - last,
                   options.live != nullptr ? options.live->now_s() : 0.0);
    } else {
      advance(studio.view, studio.lesson.trace, benching ? 1.0 / 60.0 : options.bench_frames > 0 ? 0.0 : now - last);
    }
    last = now;
    if (studio.view.presenter != studio.applied_presenter || frames == 0) {
      apply_style(studio.view.presenter);
      studio.applied_presenter = studio.view.presenter;
    }
    ImGui_ImplOpenGL3_NewFrame();  // the first one makes the atlas's texture
    if (frames == 0) nearest_atlas();
    ImGui_ImplGlfw_NewFrame();
    ImGui::NewFrame();
    ImGui::PushFont(studio.view.presenter ? fonts.presenter : fonts.normal);
    if (!shots.empty() && shots.front() != "presenter") {
      studio.solo_panel(shots.front());
    } else {
      studio.menu();
      studio.panels();
      studio.file_window();
    }
    ImGui::PopFont();
    ImGui::Render();
    const auto built = std::chrono::steady_clock::now();
    last_vertices = ImGui::GetDrawData()->TotalVtxCount;
    int width = 0;
    int height = 0;
    glfwGetFramebufferSize(window, &width, &height);
    glViewport(0, 0, width, height);
    const ImVec4 backdrop = ImGui::ColorConvertU32ToFloat4(backdrop_colour());
    glClearColor(backdrop.x, backdrop.y, backdrop.z, 1.0f);
    glClear(GL_COLOR_BUFFER_BIT);
    ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
    ++frames;
    if (options.live_for_s > 0 && live_done && !options.screenshot) break;
    if (options.screenshot && (options.live_for_s > 0 ? live_done : frames % frames_before_screenshot == 0)) {
      glFinish();
      std::string png = *options.screenshot;
      if (options.panel == "all") {
        png = (std::filesystem::path(png) / (shots.front() + "-" + std::string(lang_code(studio.view.lang)) + ".png")).string();
      }
      if (!write_png(png, width, height)) {
        std::fprintf(stderr, "maillab-studio: cannot write %s\n", png.c_str());
        status = 1;
        break;
      }
      if (!shots.empty()) shots.erase(shots.begin());
      if (shots.empty()) break;
      // The next panel; the presenter shot turns presenter mode on.
      studio.view.presenter = options.presenter || shots.front() == "presenter";
      if (shots.front() == "message" && studio.view.selected_message.empty() && !studio.lesson.trace.messages.empty()) {
        studio.view.selected_message = studio.lesson.trace.messages.front();
      }
    }
    glfwSwapBuffers(window);
    if (options.bench_frames > 0) {
      glFinish();
      const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - frame_start;
      const std::chrono::duration<double, std::milli> building = built - frame_start;
      if (benching) {
        frame_ms.push_back(took.count());
        build_ms.push_back(building.count());
        cpu_ms.push_back(process_cpu_ms() - frame_cpu_start);
      }
      if (static_cast<int>(frame_ms.size()) >= options.bench_frames) break;
    }
  }
  if (options.bench_frames > 0) report_frames(frame_ms, build_ms, cpu_ms, studio, in_flight_at_start, last_vertices);
  if (options.live_for_s > 0) {
    const auto& live = studio.live_lesson();
    std::printf("maillab-studio: live: %zu events, %zu lines, %zu sessions, %zu deliveries\n", live.trace.events.size(),
                live.lines.size(), options.live_feed != nullptr ? options.live_feed->sessions_seen() : 0,
                options.live_feed != nullptr ? options.live_feed->deliveries_seen() : 0);
    for (const auto& event : live.trace.events) {
      if (event.kind != EventKind::deliver) continue;
      const auto user = event.extra.contains("user") && event.extra["user"].is_string()
                            ? event.extra["user"].get<std::string>()
                            : event.dst;
      std::printf("maillab-studio: live: delivered %s to %s\n", event.msg.c_str(), user.c_str());
    }
    std::fflush(stdout);
    if (options.live == nullptr) status = 1;
  }

  ImGui_ImplOpenGL3_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
  glfwDestroyWindow(window);
  glfwTerminate();
  return status;
}

}  // namespace maillab::ui
