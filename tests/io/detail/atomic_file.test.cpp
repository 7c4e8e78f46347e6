#include <nst/io/detail/atomic_file.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "../../support/support.hpp"

namespace fs = std::filesystem;

namespace {

// A fresh empty directory, removed with its contents at the end of the test.
struct scratch_directory {
  fs::path path;
  scratch_directory() {
    path = fs::temp_directory_path() / ("nst-atomic-test-" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~scratch_directory() { fs::remove_all(path); }
  std::size_t entries() const { return static_cast<std::size_t>(std::distance(fs::directory_iterator(path), {})); }
};

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_text(const std::string& path, const std::string& text) {
  nst::detail::write_file_atomically(path, "test", [&](nst::detail::byte_sink& out) {
    out.write(text.data(), text.size() / 2);
    out.write(text.data() + text.size() / 2, text.size() - text.size() / 2);
  });
}

}  // namespace

TEST_CASE("write_file_atomically creates and replaces files, leaving no temporary behind", "[io][atomic_file]") {
  scratch_directory dir;
  const std::string target = (dir.path / "data.bin").string();
  write_text(target, "first version");
  CHECK(read_all(target) == "first version");
  write_text(target, "second");
  CHECK(read_all(target) == "second");
  CHECK(dir.entries() == 1);
}

TEST_CASE("write_file_atomically leaves the old file whole when anything fails", "[io][atomic_file]") {
  scratch_directory dir;
  const std::string target = (dir.path / "data.bin").string();
  write_text(target, "precious");

  // The producer throws half-way through.
  CHECK_THROWS_AS(nst::detail::write_file_atomically(target, "test",
                                                     [](nst::detail::byte_sink& out) {
                                                       out.write("partial", 7);
                                                       throw std::runtime_error("producer failed");
                                                     }),
                  std::runtime_error);
  CHECK(read_all(target) == "precious");
  CHECK(dir.entries() == 1);

  // A write error (a closed descriptor) is remembered by the sink, not thrown from it.
  nst::detail::byte_sink closed(-1);
  CHECK_FALSE(closed.write("x", 1));
  CHECK(closed.error() == EBADF);
  CHECK_FALSE(closed.write("y", 1));

  // The target is a directory: the rename fails, the temporary file goes.
  fs::create_directories(dir.path / "a_directory");
  CHECK_THROWS_WITH(write_text((dir.path / "a_directory").string(), "x"),
                    Catch::Contains("io_error.423") && Catch::Contains("a_directory"));
  CHECK(dir.entries() == 2);

  // The directory does not exist: nothing can be created.
  CHECK_THROWS_WITH(write_text((dir.path / "missing" / "data.bin").string(), "x"),
                    Catch::Contains("io_error.421") && Catch::Contains("No such file or directory"));
  CHECK(read_all(target) == "precious");
  CHECK(dir.entries() == 2);
}
