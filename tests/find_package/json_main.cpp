// Built against the installed package by .ci/run: exits 0 only if the json component compares.
#include <cstdio>
#include <request_shadow/json.hpp>

namespace rs = request_shadow;

int main() {
  const rs::BodyComparison found =
      rs::json::compare(R"({"a":1,"b":[1,2]})", R"({"b": [1, 2.0], "a": 1, "c": true})");
  const bool ok = found.fields.size() == 1 && found.fields[0].pointer == "/c" &&
                  found.fields[0].change == rs::FieldChange::Added;
  std::printf("json consumer: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
