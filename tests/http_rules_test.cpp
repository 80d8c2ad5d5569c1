// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/http_rules.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <cstddef>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>

namespace rs = request_shadow;

TEST(HttpSafeMethods, LetsOnlyTheSafeMethodsThrough) {
  const auto safe = rs::http_safe_methods();
  EXPECT_TRUE(safe("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(safe("HEAD /a HTTP/1.1\r\n\r\n"));
  EXPECT_TRUE(safe("OPTIONS * HTTP/1.1\r\n\r\n"));
  EXPECT_TRUE(safe("TRACE / HTTP/1.1\n\n"));
  EXPECT_FALSE(safe("POST /a HTTP/1.1\r\n\r\nbody"));
  EXPECT_FALSE(safe("PUT /a HTTP/1.1\r\n\r\n"));
  EXPECT_FALSE(safe("DELETE /a HTTP/1.1\r\n\r\n"));
  EXPECT_FALSE(safe("PATCH /a HTTP/1.1\r\n\r\n"));
  EXPECT_FALSE(safe("CONNECT a:443 HTTP/1.1\r\n\r\n"));
}

TEST(HttpSafeMethods, RefusesWhatIsNotPlainlyASafeMethod) {
  const auto safe = rs::http_safe_methods();
  EXPECT_FALSE(safe(""));
  EXPECT_FALSE(safe("GET"));
  EXPECT_FALSE(safe("get / HTTP/1.1\r\n\r\n"));      // methods are case-sensitive
  EXPECT_FALSE(safe("GETX / HTTP/1.1\r\n\r\n"));     // a longer method that starts with GET
  EXPECT_FALSE(safe(" GET / HTTP/1.1\r\n\r\n"));     // not a request line
  EXPECT_FALSE(safe("POST /GET HTTP/1.1\r\n\r\n"));  // GET elsewhere on the line
  EXPECT_FALSE(safe("\r\nPOST / HTTP/1.1\r\n\r\n"));
  EXPECT_FALSE(safe(std::string_view("G\0T / HTTP/1.1", 14)));
}

TEST(HttpSafeMethods, SkipsEmptyLinesBeforeTheRequestLine) {
  const auto safe = rs::http_safe_methods();
  EXPECT_TRUE(safe("\r\n\r\nGET / HTTP/1.1\r\n\r\n"));
  EXPECT_TRUE(safe("\nGET\t/ HTTP/1.1\n\n"));
}

TEST(HttpStripHeaders, RemovesFieldsByNameInAnyCaseAndKeepsTheRestByteForByte) {
  const auto strip = rs::http_strip_headers({"authorization", "Cookie"});
  EXPECT_EQ(strip("GET /a HTTP/1.1\r\n"
                  "Host: x\r\n"
                  "AUTHORIZATION: Bearer secret\r\n"
                  "Accept:  */*  \r\n"
                  "cookie: a=1\r\n"
                  "cookie: b=2\r\n"
                  "X-Trace: 7\r\n"
                  "\r\n"
                  "body\r\nAuthorization: not a header\r\n"),
            "GET /a HTTP/1.1\r\n"
            "Host: x\r\n"
            "Accept:  */*  \r\n"
            "X-Trace: 7\r\n"
            "\r\n"
            "body\r\nAuthorization: not a header\r\n");
}

TEST(HttpStripHeaders, KeepsLineFeedsAsTheyWere) {
  const auto strip = rs::http_strip_headers({"authorization"});
  EXPECT_EQ(strip("GET / HTTP/1.1\nHost: x\nAuthorization: s\nA: b\n\nbody"),
            "GET / HTTP/1.1\nHost: x\nA: b\n\nbody");
  EXPECT_EQ(strip("GET / HTTP/1.1\r\nAuthorization: s\nA: b\r\n\r\n"),
            "GET / HTTP/1.1\r\nA: b\r\n\r\n");
}

TEST(HttpStripHeaders, RemovesContinuationLinesWithTheirField) {
  const auto strip = rs::http_strip_headers({"authorization"});
  EXPECT_EQ(strip("GET / HTTP/1.1\r\n"
                  "Authorization: Bearer\r\n"
                  " part-two\r\n"
                  "\tpart-three\r\n"
                  "X-Folded: a\r\n"
                  " b\r\n"
                  "\r\n"),
            "GET / HTTP/1.1\r\n"
            "X-Folded: a\r\n"
            " b\r\n"
            "\r\n");
}

TEST(HttpStripHeaders, AFieldCannotHideBehindABareCarriageReturnOrABlankBeforeTheColon) {
  const auto strip = rs::http_strip_headers({"authorization"});
  // The bare CR takes over the removed line's end: the lines around it are not joined.
  EXPECT_EQ(strip("GET / HTTP/1.1\r\nX: 1\rAuthorization: s\r\n\r\nbody"),
            "GET / HTTP/1.1\r\nX: 1\r\n\r\nbody");
  EXPECT_EQ(strip("GET / HTTP/1.1\r\nX: 1\rAuthorization: s\n\nAuthorization: body"),
            "GET / HTTP/1.1\r\nX: 1\n\nAuthorization: body");
  EXPECT_EQ(strip("GET / HTTP/1.1\r\nAuthorization : s\r\nX: 1\r\n\r\n"),
            "GET / HTTP/1.1\r\nX: 1\r\n\r\n");
  // After a bare CR an empty line may be read as the end of a field, not of the section.
  EXPECT_EQ(strip("GET / HTTP/1.1\r\nX: 1\r\r\nAuthorization: s\r\n\r\nbody"),
            "GET / HTTP/1.1\r\nX: 1\r\r\n\r\nbody");
}

TEST(HttpStripHeaders, TheLastFieldOfTextCutShortIsRemovedToo) {
  const auto strip = rs::http_strip_headers({"authorization"});
  EXPECT_EQ(strip("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bea"),
            "GET / HTTP/1.1\r\nHost: x\r\n");
}

TEST(HttpStripHeaders, LeavesTextWithoutHeadersUnchanged) {
  const auto strip = rs::http_strip_headers({"authorization"});
  for (const std::string_view text :
       {"", "\r\n", "\rAuthorization: x\r\n\r\n", "GET / HTTP/1.1",
        "GET / HTTP/1.1\r\n\r\nAuthorization: x", "Authorization: x", "\r\n\r\n",
        "\n\nAuthorization: x", "no colon\r\nat all\r\n\r\n"}) {
    EXPECT_EQ(strip(text), text) << text;
  }
}

TEST(HttpStripHeaders, RejectsNamesThatAreNotTokens) {
  EXPECT_THROW((void)rs::http_strip_headers({""}), std::invalid_argument);
  EXPECT_THROW((void)rs::http_strip_headers({"authorization:"}), std::invalid_argument);
  EXPECT_THROW((void)rs::http_strip_headers({"x y"}), std::invalid_argument);
  EXPECT_NO_THROW((void)rs::http_strip_headers({}));
}

// Random bytes drawn from the characters that matter to the parser: whatever comes in, the
// output is the input with whole lines taken out, no line of the header section still carries a
// removed name, and stripping again changes nothing.
TEST(HttpStripHeaders, RandomTextNeverBreaksIt) {
  const auto strip = rs::http_strip_headers({"a"});
  const auto key = rs::http_header_key("a");
  const auto safe = rs::http_safe_methods();
  std::mt19937 gen(12345);
  const std::string_view alphabet("aA:\r\n \tGET/x", 13);
  for (int round = 0; round < 100000; ++round) {
    std::string text;
    const std::size_t length = gen() % 48;
    for (std::size_t i = 0; i < length; ++i) text += alphabet[gen() % alphabet.size()];
    const std::string out = strip(text);
    ASSERT_LE(out.size(), text.size()) << text;
    std::size_t j = 0;  // `out` is a subsequence of `text`
    for (const char c : text) {
      if (j < out.size() && out[j] == c) ++j;
    }
    ASSERT_EQ(j, out.size()) << text;
    ASSERT_EQ(strip(out), out) << text;
    (void)key(text);
    (void)safe(text);
  }
}

TEST(HttpHeaderKey, KeysOnTheFirstFieldWithTheName) {
  const auto key = rs::http_header_key("X-User");
  EXPECT_EQ(key("GET /api HTTP/1.1\r\nHost: x\r\nx-user:  alice \r\nX-User: bob\r\n\r\n"), "alice");
  EXPECT_EQ(key("GET /api HTTP/1.1\nX-USER:bob\n\n"), "bob");
  EXPECT_EQ(key("GET /api HTTP/1.1\r\nX-User: a\r\n  b \r\n\tc\r\nHost: x\r\n\r\n"), "a b c");
  EXPECT_EQ(key("GET /api HTTP/1.1\r\nX-User:\r\n\r\n"), "");
}

TEST(HttpHeaderKey, ARequestWithoutTheFieldIsKeyedOnItself) {
  const auto key = rs::http_header_key("x-user");
  const std::string request = "GET /api HTTP/1.1\r\nHost: x\r\n\r\nx-user: in the body";
  EXPECT_EQ(key(request), request);
  EXPECT_EQ(key(""), "");
}

// Why key on a header: at 50 %, identical requests are all in or all out when keyed on
// themselves, and split by user when keyed on the user.
TEST(HttpHeaderKey, IdenticalRequestsOfDifferentUsersAreSampledApart) {
  auto config = rs::ShadowConfig::full_sample().sample_rate(50);
  const auto key = rs::http_header_key("x-user");
  int in = 0;
  int in_by_request = 0;
  for (int user = 0; user < 200; ++user) {
    const std::string request =
        "GET /api HTTP/1.1\r\nX-User: user-" + std::to_string(user) + "\r\n\r\n";
    const std::string same = "GET /api HTTP/1.1\r\n\r\n";
    if (config.should_shadow(key(request))) ++in;
    if (config.should_shadow(same)) ++in_by_request;
  }
  EXPECT_TRUE(in_by_request == 0 || in_by_request == 200);
  EXPECT_GT(in, 50);
  EXPECT_LT(in, 150);
}

TEST(HttpHeaderKey, RejectsANameThatIsNotAToken) {
  EXPECT_THROW((void)rs::http_header_key(""), std::invalid_argument);
  EXPECT_THROW((void)rs::http_header_key("x:user"), std::invalid_argument);
}
