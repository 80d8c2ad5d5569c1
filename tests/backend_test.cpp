// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#include <request_shadow/backend.hpp>
// The header under test comes first: it must compile on its own.

#include <gtest/gtest.h>

#include <memory>
#include <request_shadow/shadower.hpp>
#include <string>
#include <type_traits>

#include "test_support.hpp"

namespace rs = request_shadow;

namespace {

struct ReturnsPlainRecord {
  rs::ResponseRecord call(std::span<const std::byte> input);
};

struct TakesAString {
  net::awaitable<rs::ResponseRecord> call(std::string input);
};

struct ReturnsWrongAwaitable {
  net::awaitable<std::string> call(std::span<const std::byte> input);
};

struct NoCallAtAll {};

}  // namespace

static_assert(rs::Backend<rs::test::ConstantBackend>);
static_assert(rs::Backend<rs::test::DelayedBackend>);
static_assert(rs::Backend<rs::test::ThrowingBackend<>>);
static_assert(!rs::Backend<int>);
static_assert(!rs::Backend<NoCallAtAll>);
static_assert(!rs::Backend<ReturnsPlainRecord>);
static_assert(!rs::Backend<TakesAString>);
static_assert(!rs::Backend<ReturnsWrongAwaitable>);

TEST(Backend, ClassTemplateArgumentDeduction) {
  rs::Shadower from_pointers(std::make_shared<rs::test::ConstantBackend>(),
                             std::make_shared<rs::test::EchoBackend>(),
                             rs::ShadowConfig::full_sample());
  static_assert(std::is_same_v<decltype(from_pointers),
                               rs::Shadower<rs::test::ConstantBackend, rs::test::EchoBackend>>);
  rs::Shadower from_values(rs::test::EchoBackend{}, rs::test::ConstantBackend{});
  static_assert(std::is_same_v<decltype(from_values),
                               rs::Shadower<rs::test::EchoBackend, rs::test::ConstantBackend>>);
  EXPECT_EQ(from_values.config().sample_rate(), 100U);
}

TEST(Backend, NullBackendIsAClearError) {
  using S = rs::Shadower<rs::test::ConstantBackend, rs::test::ConstantBackend>;
  EXPECT_THROW(S(nullptr, std::make_shared<rs::test::ConstantBackend>()), std::invalid_argument);
  EXPECT_THROW(S(std::make_shared<rs::test::ConstantBackend>(), nullptr), std::invalid_argument);
}
