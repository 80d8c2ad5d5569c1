// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/http/request.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace {

using request_shadow::http::parse_request;
using request_shadow::http::Request;
using request_shadow::http::RequestError;
using request_shadow::http::RequestField;

// The message of the RequestError `message` raises, or "" if it parses.
std::string error_of(std::string_view message) {
  try {
    (void)parse_request(message);
  } catch (const RequestError& e) {
    return e.what();
  }
  return "";
}

TEST(HttpRequest, ParsesRequestLineFieldsAndBody) {
  const Request r = parse_request(
      "POST /v1/items?x=1 HTTP/1.1\r\nHost: a.example\r\nX-Rep: 1\r\nx-rep:  2 \r\n"
      "Content-Length: 5\r\n\r\nhello");
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/v1/items?x=1");
  ASSERT_EQ(r.fields.size(), 4U);
  EXPECT_EQ(r.fields[1], (RequestField{"X-Rep", "1"}));
  EXPECT_EQ(r.fields[2], (RequestField{"x-rep", "2"}));
  EXPECT_EQ(r.body, "hello");
}

TEST(HttpRequest, BodyIsBinarySafe) {
  const std::string message =
      std::string("PUT /b HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n") +
      std::string("a\0\xff\n", 4);
  const Request r = parse_request(message);
  EXPECT_EQ(r.body, std::string("a\0\xff\n", 4));
}

TEST(HttpRequest, GetWithoutBody) {
  const Request r = parse_request("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/");
  EXPECT_TRUE(r.body.empty());
}

TEST(HttpRequest, RejectsWhatIsMalformedAndSaysWhat) {
  EXPECT_NE(error_of("").find("empty input"), std::string::npos);
  EXPECT_NE(error_of("GET / HTTP/1.1\nHost: h\r\n\r\n").find("bare LF"), std::string::npos);
  EXPECT_NE(error_of("GET / HTTP/1.1\r\nHost: h\r\r\n\r\n").find("bare CR"), std::string::npos);
  EXPECT_NE(error_of("GET / HTTP/1.1\r\nHost: h\r\n").find("does not end in CRLF"),
            std::string::npos);
  EXPECT_NE(error_of("GET / HTTP/1.0\r\nHost: h\r\n\r\n").find("not HTTP/1.1"), std::string::npos);
  EXPECT_NE(error_of("GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n").find("origin form"),
            std::string::npos);
  EXPECT_NE(error_of("GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n").find("target"), std::string::npos);
  EXPECT_NE(error_of("G(T / HTTP/1.1\r\nHost: h\r\n\r\n").find("method"), std::string::npos);
  EXPECT_NE(error_of("GET /  HTTP/1.1\r\nHost: h\r\n\r\n").find("HTTP version"), std::string::npos);
  EXPECT_NE(error_of("GET\r\n\r\n").find("no space"), std::string::npos);
  EXPECT_NE(error_of("GET / HTTP/1.1\r\n\r\n").find("no Host"), std::string::npos);
  EXPECT_NE(error_of("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n").find("more than one Host"),
            std::string::npos);
  EXPECT_NE(error_of("GET / HTTP/1.1\r\nHost : h\r\n\r\n").find("before the colon"),
            std::string::npos);
  EXPECT_NE(error_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n").find("folding"),
            std::string::npos);
  EXPECT_NE(error_of("GET / HTTP/1.1\r\nHost: h\r\nnocolon\r\n\r\n").find("no colon"),
            std::string::npos);
  EXPECT_NE(error_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n").find("control character"),
            std::string::npos);
  EXPECT_NE(error_of("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
                .find("Transfer-Encoding"),
            std::string::npos);
  EXPECT_NE(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n").find("decimal"),
            std::string::npos);
  EXPECT_NE(
      error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n")
          .find("too large"),
      std::string::npos);
  EXPECT_NE(
      error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
          .find("conflicting"),
      std::string::npos);
  EXPECT_NE(error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nab").find("shorter"),
            std::string::npos);
  EXPECT_NE(
      error_of("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nab").find("after the end"),
      std::string::npos);
  EXPECT_NE(error_of("GET / HTTP/1.1\r\nHost: h\r\n\r\nextra").find("after the end"),
            std::string::npos);
}

TEST(HttpRequest, RepeatedEqualContentLengthIsAccepted) {
  const Request r = parse_request(
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nab");
  EXPECT_EQ(r.body, "ab");
}

TEST(HttpRequest, ErrorMessagesEscapeControlBytes) {
  std::string message = "G";
  message += '\0';
  message += "T / HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string what = error_of(message);
  EXPECT_NE(what.find("\\x00"), std::string::npos) << what;
}

}  // namespace
