#include <nst/io/detail/sha256.hpp>

#include "../../support/support.hpp"

namespace {
std::string sha256_of(const std::string& message) {
  nst::detail::sha256 hash;
  hash.update(message.data(), message.size());
  return hash.hex();
}
}  // namespace

TEST_CASE("sha256: FIPS 180-4 test vectors", "[io][weights][sha256]") {
  CHECK(sha256_of("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_of("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // Two blocks: the padding does not fit after 56 bytes.
  CHECK(sha256_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_of(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256: the digest does not depend on how the input is split", "[io][weights][sha256]") {
  std::string message;
  for (int i = 0; i < 1000; ++i) message += static_cast<char>(i * 7 + 3);
  const std::string whole = sha256_of(message);
  for (std::size_t piece : {1u, 3u, 63u, 64u, 65u, 200u}) {
    nst::detail::sha256 hash;
    for (std::size_t at = 0; at < message.size(); at += piece)
      hash.update(message.data() + at, std::min(piece, message.size() - at));
    CHECK(hash.hex() == whole);
  }
}
