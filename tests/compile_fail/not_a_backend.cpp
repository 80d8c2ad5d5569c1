// Must fail to compile, with a diagnostic that names the Backend concept.
#include <request_shadow/shadower.hpp>

struct NotABackend {
  int call(int);
};

int main() {
  request_shadow::Shadower<NotABackend, NotABackend>* p = nullptr;
  (void)p;
}
