// The source tree's modules form layers: a file includes headers of its own module and of the
// modules below it, never of one above. The plan and the planning problem are data that the
// framework recipes, the cost model and the evaluator read; the plan file, the search, the
// reports and the exports sit above the evaluator (README.md, "Layout").
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

namespace fs = std::filesystem;

// Lowest first. The folders of each module (relative to the source root) are listed with it.
struct Module {
  std::string name;
  std::vector<std::string> folders;
};

const std::vector<Module>& layers() {
  static const std::vector<Module> order = {
      {"core", {"kernels/include/nest/core", "host/include/nest/core", "host/src/core"}},
      {"kernels", {"kernels/include/nest/kernels", "kernels/cpu", "kernels/cuda"}},
      {"io", {"host/include/nest/io", "host/src/io"}},
      {"plan", {"host/include/nest/plan", "host/src/plan"}},
      {"model", {"host/include/nest/model", "host/src/model"}},
      {"hardware", {"host/include/nest/hardware", "host/src/hardware"}},
      {"problem", {"host/include/nest/problem"}},
      {"framework", {"host/include/nest/framework", "host/src/framework"}},
      {"cost", {"host/include/nest/cost", "host/src/cost"}},
      {"evaluate", {"host/include/nest/evaluate", "host/src/evaluate"}},
      {"plan_file", {"host/include/nest/plan_file", "host/src/plan_file"}},
      {"search", {"host/include/nest/search", "host/src/search"}},
      {"report", {"host/include/nest/report", "host/src/report"}},
      {"export", {"host/include/nest/export", "host/src/export"}},
      {"calibration", {"host/include/nest/calibration", "host/src/calibration"}},
      {"profiler", {"profiler"}},
      {"cli", {"host/cli"}},
  };
  return order;
}

int rank_of(const std::string& module) {
  const auto& l = layers();
  for (std::size_t i = 0; i < l.size(); ++i)
    if (l[i].name == module) return static_cast<int>(i);
  return -1;
}

bool is_source(const fs::path& p) {
  const std::string e = p.extension().string();
  return e == ".hpp" || e == ".cpp" || e == ".h" || e == ".cu" || e == ".cuh";
}

// Every `#include "nest/<module>/..."` of the files under `root` that names a module above the
// file's own, or a module the table does not know, as "file:line: <module> includes <other>".
std::vector<std::string> layering_violations(const fs::path& root) {
  static const std::regex include_line(R"(^\s*#\s*include\s*"nest/([A-Za-z0-9_]+)/)");
  std::vector<std::string> out;
  const auto& l = layers();
  for (std::size_t m = 0; m < l.size(); ++m) {
    for (const std::string& folder : l[m].folders) {
      const fs::path dir = root / folder;
      if (!fs::is_directory(dir)) continue;
      std::vector<fs::path> files;
      for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file() && is_source(e.path())) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const fs::path& f : files) {
        std::ifstream in(f);
        std::string line;
        for (int n = 1; std::getline(in, line); ++n) {
          std::smatch match;
          if (!std::regex_search(line, match, include_line)) continue;
          const std::string target = match[1].str();
          const int r = rank_of(target);
          if (r < 0 || r > static_cast<int>(m))
            out.push_back(fs::relative(f, root).string() + ":" + std::to_string(n) + ": " + l[m].name + " includes " + target +
                          (r < 0 ? " (a module the layer table does not list)" : ""));
        }
      }
    }
  }
  return out;
}

TEST(Layering, EveryModuleIncludesOnlyItselfAndTheModulesBelowIt) {
  const fs::path root = NEST_SOURCE_DIR;
  // Every module's folders exist, so a renamed folder cannot leave its files unchecked.
  for (const Module& m : layers())
    for (const std::string& folder : m.folders) EXPECT_TRUE(fs::is_directory(root / folder)) << folder << " (" << m.name << ")";
  const std::vector<std::string> bad = layering_violations(root);
  std::string all;
  for (const std::string& b : bad) all += "\n  " + b;
  EXPECT_TRUE(bad.empty()) << bad.size() << " includes go up a layer:" << all;
}

TEST(Layering, EveryFolderOfTheLibraryIsAModuleOfTheTable) {
  const fs::path root = NEST_SOURCE_DIR;
  for (const char* base : {"host/include/nest", "host/src", "kernels/include/nest"}) {
    for (const auto& e : fs::directory_iterator(root / base)) {
      if (!e.is_directory()) continue;
      const std::string folder = (fs::path(base) / e.path().filename()).string();
      bool listed = false;
      for (const Module& m : layers())
        listed = listed || std::find(m.folders.begin(), m.folders.end(), folder) != m.folders.end();
      EXPECT_TRUE(listed) << folder << " is in no layer of the table";
    }
  }
}

// kernels/ builds on its own (the CUDA and CPU backends, the grid emulator's tests): every header it
// includes from nest/ is one of its own, none of host/ (core is split: error.hpp is the kernels'
// own, limits.hpp and the others are the host's).
TEST(Layering, KernelsIncludeNothingFromHost) {
  const fs::path root = NEST_SOURCE_DIR;
  static const std::regex include_line(R"(^\s*#\s*include\s*"(nest/[^"]+)\")");
  int includes = 0;
  for (const auto& e : fs::recursive_directory_iterator(root / "kernels")) {
    if (!e.is_regular_file() || !is_source(e.path())) continue;
    std::ifstream in(e.path());
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      std::smatch match;
      if (!std::regex_search(line, match, include_line)) continue;
      ++includes;
      EXPECT_TRUE(fs::is_regular_file(root / "kernels/include" / match[1].str()))
          << fs::relative(e.path(), root).string() << ":" << n << " includes " << match[1].str()
          << ", not a header of kernels/include";
    }
  }
  EXPECT_GT(includes, 50);  // the walk found the kernels' own includes
}

// The check itself: a tree with an include that goes up a layer, one that goes down and one of an
// unknown module.
TEST(Layering, AnIncludeOfAHigherModuleIsReported) {
  const fs::path root = fs::temp_directory_path() / ("nest-layering-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "host/src/cost");
  {
    std::ofstream f(root / "host/src/cost/a.cpp");
    f << "#include \"nest/cost/a.hpp\"\n#include \"nest/plan/plan.hpp\"\n  #  include \"nest/search/planner.hpp\"\n"
         "#include \"nest/nowhere/x.hpp\"\n#include <vector>\n";
  }
  const std::vector<std::string> bad = layering_violations(root);
  fs::remove_all(root);
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(bad[0], "host/src/cost/a.cpp:3: cost includes search");
  EXPECT_EQ(bad[1], "host/src/cost/a.cpp:4: cost includes nowhere (a module the layer table does not list)");
}

}  // namespace
