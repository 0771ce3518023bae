// The studio's window and frame loop.  Layout (fixed, so a projector always
// shows the same thing): topology and sequence diagram on the left, the
// transcript and the side panels on the right, the timeline along the bottom.
// --screenshot renders a few frames into a hidden window and writes a PNG.
#include "ui/studio.hpp"

#include <algorithm>
#include <cstdio>
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

namespace maillab::ui {
namespace {

constexpr const char* font_path = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

struct Fonts {
  ImFont* normal = nullptr;
  ImFont* presenter = nullptr;
};

Fonts load_fonts() {
  Fonts fonts;
  auto& io = ImGui::GetIO();
  if (std::filesystem::exists(font_path)) {
    fonts.normal = io.Fonts->AddFontFromFileTTF(font_path, 17.0f);
    fonts.presenter = io.Fonts->AddFontFromFileTTF(font_path, 28.0f);
  }
  if (fonts.normal == nullptr) fonts.normal = io.Fonts->AddFontDefault();
  if (fonts.presenter == nullptr) fonts.presenter = fonts.normal;
  return fonts;
}

void apply_style(bool presenter) {
  ImGui::StyleColorsDark();
  auto& style = ImGui::GetStyle();
  style.WindowRounding = 4.0f;
  if (presenter) {
    // High contrast for a projector: pure black panels, bright text.
    style.Colors[ImGuiCol_WindowBg] = ImVec4(0, 0, 0, 1);
    style.Colors[ImGuiCol_ChildBg] = ImVec4(0, 0, 0, 1);
    style.Colors[ImGuiCol_Text] = ImVec4(1, 1, 1, 1);
    style.Colors[ImGuiCol_Border] = ImVec4(1, 1, 1, 0.8f);
  }
}

struct Studio {
  StudioOptions options;
  Lesson lesson;
  ViewState view;
  std::vector<LessonEntry> lessons;
  std::string open_path;
  bool quit = false;
  bool applied_presenter = false;

  void load(const std::string& path) {
    lesson = load_lesson(path, view.lang);
    const auto lang = view.lang;
    const auto presenter = view.presenter;
    view = ViewState{};
    view.lang = lang;
    view.presenter = presenter;
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

  void menu() {
    if (!ImGui::BeginMainMenuBar()) return;
    const auto label = [&](Text text) { return std::string(tr(view.lang, text)); };
    if (ImGui::BeginMenu(label(Text::menu_lessons).c_str())) {
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
      ImGui::SetNextItemWidth(ImGui::GetFontSize() * 20);
      ImGui::InputText("##open", open_path.data(), open_path.size() + 1, ImGuiInputTextFlags_CallbackResize,
                       [](ImGuiInputTextCallbackData* data) {
                         if (data->EventFlag == ImGuiInputTextFlags_CallbackResize) {
                           auto* text = static_cast<std::string*>(data->UserData);
                           text->resize(static_cast<std::size_t>(data->BufTextLen));
                           data->Buf = text->data();
                         }
                         return 0;
                       },
                       &open_path);
      ImGui::SameLine();
      if (ImGui::Button(label(Text::open_file).c_str()) && !open_path.empty()) load(open_path);
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
    ImGui::TextDisabled("  %s", lesson.title.c_str());
    ImGui::EndMainMenuBar();
  }

  void panels() {
    const auto snapshot = snapshot_at(lesson.trace, view.cursor);
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
      place(left_w, 0, size.x - left_w, body_h * 0.5f);
      ImGui::Begin(title(Text::panel_transcript, "transcript").c_str(), nullptr, flags);
      draw_transcript(frame);
      ImGui::End();
      place(left_w, body_h * 0.5f, size.x - left_w, body_h * 0.5f);
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

bool write_png(const std::string& path, int width, int height) {
  std::vector<unsigned char> pixels(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 4);
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  glReadBuffer(GL_BACK);
  glReadPixels(0, 0, width, height, GL_RGBA, GL_UNSIGNED_BYTE, pixels.data());
  // OpenGL's rows start at the bottom; PNG's at the top.
  stbi_flip_vertically_on_write(1);
  return stbi_write_png(path.c_str(), width, height, 4, pixels.data(), width * 4) != 0;
}

}  // namespace

int run_studio(const StudioOptions& options) {
  Studio studio;
  studio.options = options;
  studio.view.lang = options.lang;
  studio.view.presenter = options.presenter;
  studio.lessons = list_lessons(options.scenarios_dir, studio.view.lang);
  std::string path = options.scenario;
  if (path.empty() && !studio.lessons.empty()) path = studio.lessons.front().path;
  if (path.empty()) {
    std::fprintf(stderr, "maillab-studio: no scenario given and none found in %s\n", options.scenarios_dir.c_str());
    return 2;
  }
  studio.load(path);
  if (options.screenshot && !studio.lesson.errors.empty()) {
    for (const auto& error : studio.lesson.errors) std::fprintf(stderr, "%s\n", error.c_str());
    return 2;
  }
  if (options.at_s) seek(studio.view, studio.lesson.trace, *options.at_s);
  else if (options.screenshot) seek(studio.view, studio.lesson.trace, studio.lesson.trace.end_time());
  if (options.select) studio.view.selected_message = *options.select;

  glfwSetErrorCallback([](int code, const char* text) { std::fprintf(stderr, "glfw error %d: %s\n", code, text); });
  if (!glfwInit()) {
    std::fprintf(stderr, "maillab-studio: cannot open a display (try xvfb-run, or `maillab run` for a transcript)\n");
    return 1;
  }
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
  glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
  if (options.screenshot) glfwWindowHint(GLFW_VISIBLE, GLFW_FALSE);
  GLFWwindow* window = glfwCreateWindow(options.width, options.height, "maillab studio", nullptr, nullptr);
  if (window == nullptr) {
    glfwTerminate();
    std::fprintf(stderr, "maillab-studio: cannot create an OpenGL 3.3 window\n");
    return 1;
  }
  glfwMakeContextCurrent(window);
  glfwSwapInterval(options.screenshot ? 0 : 1);

  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGui::GetIO().IniFilename = nullptr;  // the layout is fixed; nothing to remember
  const auto fonts = load_fonts();
  ImGui_ImplGlfw_InitForOpenGL(window, true);
  ImGui_ImplOpenGL3_Init("#version 330");

  int status = 0;
  int frames = 0;
  double last = glfwGetTime();
  while (!glfwWindowShouldClose(window) && !studio.quit) {
    glfwPollEvents();
    const double now = glfwGetTime();
    advance(studio.view, studio.lesson.trace, now - last);
    last = now;
    if (studio.view.presenter != studio.applied_presenter || frames == 0) {
      apply_style(studio.view.presenter);
      studio.applied_presenter = studio.view.presenter;
    }
    ImGui_ImplOpenGL3_NewFrame();
    ImGui_ImplGlfw_NewFrame();
    ImGui::NewFrame();
    ImGui::PushFont(studio.view.presenter ? fonts.presenter : fonts.normal);
    studio.menu();
    studio.panels();
    ImGui::PopFont();
    ImGui::Render();
    int width = 0;
    int height = 0;
    glfwGetFramebufferSize(window, &width, &height);
    glViewport(0, 0, width, height);
    glClearColor(0.08f, 0.08f, 0.1f, 1.0f);
    glClear(GL_COLOR_BUFFER_BIT);
    ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
    ++frames;
    // A few frames first: ImGui sizes windows and fonts on the first ones.
    if (options.screenshot && frames == 4) {
      glFinish();
      if (!write_png(*options.screenshot, width, height)) {
        std::fprintf(stderr, "maillab-studio: cannot write %s\n", options.screenshot->c_str());
        status = 1;
      }
      break;
    }
    glfwSwapBuffers(window);
  }

  ImGui_ImplOpenGL3_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
  glfwDestroyWindow(window);
  glfwTerminate();
  return status;
}

}  // namespace maillab::ui
