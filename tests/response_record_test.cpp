// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/response_record.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <vector>

namespace rs = request_shadow;

TEST(ResponseRecord, NamedConstructors) {
  const auto ok = rs::ResponseRecord::success("hi");
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "hi");

  const auto failed = rs::ResponseRecord::failure(503, "busy");
  EXPECT_FALSE(failed.ok);
  EXPECT_EQ(failed.status, 503);
  EXPECT_EQ(failed.body, "busy");

  const auto non_http = rs::ResponseRecord::failure(0);
  EXPECT_FALSE(non_http.ok);
  EXPECT_EQ(non_http.status, 0);
}

TEST(ResponseRecord, SuccessFromBytesKeepsEveryByte) {
  std::vector<std::byte> bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<std::byte>(i));
  const auto r = rs::ResponseRecord::success(bytes);
  ASSERT_EQ(r.body.size(), 256U);
  EXPECT_EQ(r.body[0], '\0');
  EXPECT_EQ(static_cast<unsigned char>(r.body[255]), 255U);
  EXPECT_EQ(r.body_bytes().size(), 256U);
}

TEST(ResponseRecord, WithHeaderChainsOnTemporariesAndLvalues) {
  auto r = rs::ResponseRecord::success("x").with_header("B", "2").with_header("a", "1");
  r.with_header("c", "3").with_header("A", "0");
  ASSERT_EQ(r.headers.size(), 4U);
  std::vector<std::string> names;
  for (const auto& h : r.headers) names.push_back(h.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "a", "b", "c"}));
}

TEST(Headers, NamesAreCaseInsensitive) {
  rs::Headers h;
  h.add("Content-Type", "text/plain");
  EXPECT_TRUE(h.contains("content-type"));
  EXPECT_TRUE(h.contains("CONTENT-TYPE"));
  EXPECT_EQ(h.get("cOnTeNt-TyPe"), "text/plain");
  EXPECT_EQ(h.begin()->name, "content-type");
  h.add("content-type", "application/json");
  EXPECT_EQ(h.values("Content-Type"),
            (std::vector<std::string_view>{"text/plain", "application/json"}));
}

TEST(Headers, RepeatedNamesKeepEveryValueInOrder) {
  rs::Headers h;
  h.add("set-cookie", "a=1");
  h.add("Accept", "x");
  h.add("Set-Cookie", "b=2");
  h.add("SET-COOKIE", "c=3");
  EXPECT_EQ(h.values("set-cookie"), (std::vector<std::string_view>{"a=1", "b=2", "c=3"}));
  EXPECT_EQ(h.get("set-cookie"), "a=1");
  EXPECT_EQ(h.size(), 4U);
  EXPECT_EQ(h.erase("Set-Cookie"), 3U);
  EXPECT_FALSE(h.contains("set-cookie"));
  EXPECT_EQ(h.size(), 1U);
}

TEST(Headers, MissingNameGivesEmptyAnswers) {
  rs::Headers h;
  EXPECT_FALSE(h.contains("x"));
  EXPECT_EQ(h.get("x"), "");
  EXPECT_TRUE(h.values("x").empty());
  EXPECT_EQ(h.erase("x"), 0U);
  EXPECT_TRUE(h.empty());
}

TEST(Headers, EqualityIgnoresNameCaseButNotValueOrder) {
  rs::Headers a;
  rs::Headers b;
  a.add("X-A", "1");
  a.add("x-a", "2");
  b.add("x-a", "1");
  b.add("X-A", "2");
  EXPECT_EQ(a, b);
  rs::Headers c;
  c.add("x-a", "2");
  c.add("x-a", "1");
  EXPECT_NE(a, c);
}
