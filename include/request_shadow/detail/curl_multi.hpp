// Copyright (c) 2026 The request-shadow authors. Distributed under the MIT License.
#ifndef REQUEST_SHADOW_DETAIL_CURL_MULTI_HPP
#define REQUEST_SHADOW_DETAIL_CURL_MULTI_HPP

// The HTTP backend, part 2 of 2: a libcurl multi handle driven by an execution context through
// the multi-socket API, and the service that keeps one per backend in each context.
//
// How libcurl's known traps are met:
// - Every wait is re-armed after every event: a socket's read and write waits are one-shot
//   `async_wait`s, started again after libcurl has seen the event, for as long as libcurl still
//   wants that direction.
// - The Asio object never closes a descriptor it does not own: each watched socket is a `dup` of
//   libcurl's, and the duplicate is what Asio watches and closes. So a socket libcurl opened
//   itself (the threaded resolver's socket pair) and then closed without telling us is never
//   touched by number, and a number libcurl reuses is never confused with the old socket.
// - A handler never touches a socket after libcurl closed it: the sockets of connections are
//   opened and closed through CURLOPT_OPENSOCKETFUNCTION/CLOSESOCKETFUNCTION, and the close
//   destroys the watcher first; every handler finds its watcher again by number and generation.
//   A number asked for again is checked to name the same socket (device and inode), so a socket
//   libcurl closed on its own and whose number came back is never watched through the old one.
// - Timer: -1 cancels it; 0 is posted to the context (never a call back into libcurl from inside
//   libcurl, and no timer system call); a positive value arms the steady_timer.
// - Callbacks during curl_multi_cleanup (sockets removed and closed) find the multi whole and
//   marked dead; they only release.
// - No exception crosses a libcurl callback (they are all noexcept and catch).
//
// Locking: every libcurl call on the multi, and every use of its watchers and timer, is under
// `mutex_`. libcurl's callbacks run inside those calls and take no lock. Callers are resumed by a
// post, after the mutex is released.

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <request_shadow/asio.hpp>
#include <request_shadow/detail/adapter_op.hpp>
#include <request_shadow/detail/curl_transfer.hpp>
#include <request_shadow/response_record.hpp>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace http {

/// What one backend's connection handling did on one execution context, since it started there.
struct ConnectionStats {
  /// Sockets opened for connections (through libcurl's open-socket callback).
  std::size_t sockets_opened = 0;
  /// Of those, sockets closed through libcurl's close-socket callback. (libcurl 7.88 closes some
  /// sockets itself, without the callback: those count as opened only.)
  std::size_t sockets_closed = 0;
  /// Sockets closed with a reset (no TIME_WAIT) because their transfer was abandoned.
  std::size_t sockets_reset = 0;
  /// Sockets libcurl asked to watch that it opened itself (its resolver's, say).
  std::size_t foreign_sockets = 0;
  /// Timer requests of 0 ms, run from the event loop rather than inside libcurl.
  std::size_t zero_timeouts = 0;
  /// Transfers started.
  std::size_t transfers_started = 0;
  /// Transfers removed before they finished (cancelled or abandoned).
  std::size_t transfers_abandoned = 0;
  /// Transfers running now.
  std::size_t transfers_running = 0;
};

}  // namespace http
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

namespace request_shadow {
inline namespace REQUEST_SHADOW_ABI {
namespace detail {

// The connection limits of one multi handle.
struct CurlLimits {
  long max_host_connections = 0;
  long max_total_connections = 0;
};

// A libcurl multi handle on one execution context.
class CurlMulti : public std::enable_shared_from_this<CurlMulti> {
 public:
  CurlMulti(net::any_io_executor ex, const CurlLimits& limits) : ex_(ex), timer_(ex) {
    multi_ = curl_multi_init();
    if (multi_ == nullptr) throw std::runtime_error("request_shadow::http: curl_multi_init failed");
    curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlMulti::on_socket);
    curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, static_cast<void*>(this));
    curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlMulti::on_timer);
    curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, static_cast<void*>(this));
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, limits.max_host_connections);
    curl_multi_setopt(multi_, CURLMOPT_MAX_TOTAL_CONNECTIONS, limits.max_total_connections);
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, limits.max_total_connections);
    curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  }

  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;
  CurlMulti(CurlMulti&&) = delete;
  CurlMulti& operator=(CurlMulti&&) = delete;
  ~CurlMulti() { shutdown(); }

  // Start a transfer; false if this multi has shut down (the caller is then dropped). The
  // caller's thread, any time.
  bool add(const std::shared_ptr<CurlTransfer>& t) {
    CURL* easy = t->easy();
    t->set(CURLOPT_OPENSOCKETFUNCTION, &CurlMulti::on_open);
    t->set(CURLOPT_OPENSOCKETDATA, static_cast<void*>(this));
    t->set(CURLOPT_CLOSESOCKETFUNCTION, &CurlMulti::on_close);
    t->set(CURLOPT_CLOSESOCKETDATA, static_cast<void*>(this));
    t->multi = weak_from_this();
    std::vector<Done> done;
    {
      const std::lock_guard lock(mutex_);
      if (dead_) return false;
      transfers_.reserve(transfers_.size() + 1);
      const CURLMcode rc = curl_multi_add_handle(multi_, easy);
      if (rc != CURLM_OK) {
        throw std::runtime_error(std::string("request_shadow::http: curl_multi_add_handle: ") +
                                 curl_multi_strerror(rc));
      }
      t->running = true;
      transfers_.emplace(easy, t);
      ++stats_.transfers_started;
      collect_locked(done);
    }
    finish(done);
    return true;
  }

  // Remove a transfer that has not finished (a cancellation), and resume its caller with
  // operation_aborted. Its HTTP/1.1 connection is closed with a reset. Any thread.
  void abandon(const std::shared_ptr<CurlTransfer>& t) noexcept {
    {
      const std::lock_guard lock(mutex_);
      if (!t->running || dead_) return;
      t->running = false;
      // The connection sockets libcurl last watched for this transfer: if it closes them now,
      // they go with a reset.
      for (const auto& [fd, w] : watchers_) {
        if (w->easy != t->easy() || !owned_.contains(fd)) continue;
        try {
          reset_on_close_.insert(fd);
        } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory: closed with a FIN
        }
      }
      // libcurl closes an unfinished HTTP/1.1 connection here (it cannot be reused), through
      // on_close; an HTTP/2 connection only has the stream reset.
      CURL* easy = t->easy();
      curl_multi_remove_handle(multi_, easy);
      drop_closed_locked(easy);
      t->release_easy();
      transfers_.erase(easy);
      ++stats_.transfers_abandoned;
    }
    t->resume(aborted_error(), ResponseRecord{});
  }

  // Stop: remove every transfer, clean the multi handle up (its callbacks run, and only release)
  // and destroy the callers still parked here without resuming them. Idempotent.
  void shutdown() noexcept {
    std::vector<std::shared_ptr<CurlTransfer>> doomed;
    {
      const std::lock_guard lock(mutex_);
      if (multi_ == nullptr) return;
      dead_ = true;
      doomed.reserve(transfers_.size());
      for (auto& [easy, t] : transfers_) {
        curl_multi_remove_handle(multi_, easy);
        t->running = false;
        t->release_easy();
        try {
          doomed.push_back(std::move(t));
        } catch (...) {
          t->drop();  // out of memory: dropped here rather than after the lock
        }
      }
      transfers_.clear();
      curl_multi_cleanup(multi_);  // closes the cached connections through on_close
      multi_ = nullptr;
      watchers_.clear();
      timer_.cancel();
    }
    for (auto& t : doomed) t->drop();
  }

  [[nodiscard]] http::ConnectionStats stats() {
    const std::lock_guard lock(mutex_);
    http::ConnectionStats s = stats_;
    s.transfers_running = transfers_.size();
    return s;
  }

 private:
  // A finished transfer and its outcome, to resume once the mutex is released.
  struct Done {
    std::shared_ptr<CurlTransfer> transfer;
    std::exception_ptr error;
    ResponseRecord response;
  };

  // A socket libcurl asked us to watch: a duplicate of it, which Asio owns.
  struct Watcher {
    Watcher(const net::any_io_executor& ex, int fd, std::uint64_t gen, const struct stat& id)
        : descriptor(ex, fd), generation(gen), device(id.st_dev), inode(id.st_ino) {}
    net::posix::stream_descriptor descriptor;
    std::uint64_t generation;
    dev_t device;  // which socket the number named when the watcher was made
    ino_t inode;
    CURL* easy = nullptr;  // the transfer that last asked for this socket
    int want = 0;          // CURL_POLL_IN, CURL_POLL_OUT or both
    bool reading = false;
    bool writing = false;
  };

  // Resume the callers of finished transfers. Without the mutex.
  static void finish(std::vector<Done>& done) noexcept {
    for (auto& d : done) d.transfer->resume(std::move(d.error), std::move(d.response));
    done.clear();
  }

  // Take the finished transfers out of the multi. Under the mutex.
  void collect_locked(std::vector<Done>& done) noexcept {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode result = msg->data.result;
      const auto it = transfers_.find(easy);
      if (it == transfers_.end()) continue;
      std::shared_ptr<CurlTransfer> t = std::move(it->second);
      transfers_.erase(it);
      t->running = false;
      ResponseRecord response;
      std::exception_ptr error = t->outcome(result, response);
      curl_multi_remove_handle(multi_, easy);
      t->release_easy();
      try {
        done.push_back(Done{t, std::move(error), std::move(response)});
      } catch (...) {
        t->resume(std::current_exception(), ResponseRecord{});  // posts; takes no lock of ours
      }
    }
  }

  // Start the waits libcurl wants on `w` that are not under way. Under the mutex.
  void arm_locked(curl_socket_t fd, Watcher& w) {
    const std::weak_ptr<CurlMulti> weak = weak_from_this();
    const std::uint64_t gen = w.generation;
    if ((w.want & CURL_POLL_IN) != 0 && !w.reading) {
      w.descriptor.async_wait(net::posix::stream_descriptor::wait_read,
                              [weak, fd, gen](const error_code& ec) {
                                if (auto self = weak.lock()) self->on_ready(fd, gen, true, ec);
                              });
      w.reading = true;
    }
    if ((w.want & CURL_POLL_OUT) != 0 && !w.writing) {
      w.descriptor.async_wait(net::posix::stream_descriptor::wait_write,
                              [weak, fd, gen](const error_code& ec) {
                                if (auto self = weak.lock()) self->on_ready(fd, gen, false, ec);
                              });
      w.writing = true;
    }
  }

  // A wait on a socket completed: tell libcurl, then re-arm.
  void on_ready(curl_socket_t fd, std::uint64_t gen, bool read, const error_code& ec) {
    std::vector<Done> done;
    {
      const std::lock_guard lock(mutex_);
      Watcher* w = find_locked(fd, gen);
      if (w == nullptr) return;  // libcurl removed or closed it meanwhile
      (read ? w->reading : w->writing) = false;
      if (ec == net::error::operation_aborted || dead_) return;
      const int direction = read ? CURL_POLL_IN : CURL_POLL_OUT;
      if ((w->want & direction) != 0) {
        const int action = ec ? CURL_CSELECT_ERR : (read ? CURL_CSELECT_IN : CURL_CSELECT_OUT);
        int running = 0;
        curl_multi_socket_action(multi_, fd, action, &running);
        w = find_locked(fd, gen);  // the watcher may be gone now
      }
      if (w != nullptr && !dead_) {
        try {
          arm_locked(fd, *w);
        } catch (...) {  // out of memory: let the transfers on this socket time out
        }
      }
      collect_locked(done);
    }
    finish(done);
  }

  // The timer fired: let libcurl handle its timeouts.
  void on_timeout(std::uint64_t gen, const error_code& ec) {
    std::vector<Done> done;
    {
      const std::lock_guard lock(mutex_);
      if (ec || dead_ || gen != timer_generation_) return;
      int running = 0;
      curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
      collect_locked(done);
    }
    finish(done);
  }

  // Drop the watchers of `easy` whose socket libcurl closed without the close-socket callback
  // (it does, for some sockets): our duplicate is then the socket's last reference, which would
  // keep the connection open. It goes with a reset, as an abandoned connection does.
  void drop_closed_locked(CURL* easy) noexcept {
    for (auto it = watchers_.begin(); it != watchers_.end();) {
      struct stat id {};
      Watcher& w = *it->second;
      if (w.easy != easy ||
          (::fstat(it->first, &id) == 0 && id.st_dev == w.device && id.st_ino == w.inode)) {
        ++it;
        continue;
      }
      const linger reset{1, 0};
      ::setsockopt(w.descriptor.native_handle(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
      ++stats_.sockets_reset;
      it = watchers_.erase(it);
    }
  }

  Watcher* find_locked(curl_socket_t fd, std::uint64_t gen) {
    const auto it = watchers_.find(fd);
    return it == watchers_.end() || it->second->generation != gen ? nullptr : it->second.get();
  }

  // ---- libcurl's callbacks: inside libcurl calls, under the mutex; never throw ----

  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* user,
                       void* /*socketp*/) noexcept {
    auto& self = *static_cast<CurlMulti*>(user);
    try {
      if (what == CURL_POLL_REMOVE) {
        self.watchers_.erase(fd);  // closes our duplicate; its waits end as aborted
        return 0;
      }
      if (self.dead_) return 0;
      struct stat id {};
      if (::fstat(fd, &id) != 0) return -1;
      auto it = self.watchers_.find(fd);
      if (it != self.watchers_.end() &&
          (it->second->device != id.st_dev || it->second->inode != id.st_ino)) {
        // The number names another socket now: libcurl closed the old one (its resolver's, say)
        // without telling us. Our duplicate still holds the old one: let it go.
        self.watchers_.erase(it);
        it = self.watchers_.end();
      }
      if (it == self.watchers_.end()) {
        const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (copy < 0) return -1;
        std::unique_ptr<Watcher> w;
        try {
          w = std::make_unique<Watcher>(self.ex_, copy, ++self.generation_, id);
        } catch (...) {
          ::close(copy);
          throw;
        }
        if (!self.owned_.contains(fd)) ++self.stats_.foreign_sockets;
        it = self.watchers_.emplace(fd, std::move(w)).first;
      }
      it->second->want = what;
      it->second->easy = easy;
      self.arm_locked(fd, *it->second);
      return 0;
    } catch (...) {
      return -1;
    }
  }

  static int on_timer(CURLM* /*multi*/, long timeout_ms, void* user) noexcept {
    auto& self = *static_cast<CurlMulti*>(user);
    try {
      ++self.timer_generation_;
      if (timeout_ms < 0 || self.dead_) {
        self.timer_.cancel();
        return 0;
      }
      const std::weak_ptr<CurlMulti> weak = self.weak_from_this();
      const std::uint64_t gen = self.timer_generation_;
      if (timeout_ms == 0) {
        // As soon as possible, but not from inside libcurl: a post, which costs no timer system
        // call. A timer still waiting is cancelled (it would keep run() from returning).
        ++self.stats_.zero_timeouts;
        self.timer_.cancel();
        net::post(self.ex_, [weak, gen] {
          if (auto s = weak.lock()) s->on_timeout(gen, error_code());
        });
        return 0;
      }
      self.timer_.expires_after(std::chrono::milliseconds(timeout_ms));
      self.timer_.async_wait([weak, gen](const error_code& ec) {
        if (auto s = weak.lock()) s->on_timeout(gen, ec);
      });
      return 0;
    } catch (...) {
      return -1;
    }
  }

  static curl_socket_t on_open(void* user, curlsocktype /*purpose*/,
                               curl_sockaddr* address) noexcept {
    auto& self = *static_cast<CurlMulti*>(user);
    const int fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd < 0) return CURL_SOCKET_BAD;
    try {
      self.owned_.insert(fd);
    } catch (...) {
      ::close(fd);
      return CURL_SOCKET_BAD;
    }
    // The number was free: whatever was watched under it is gone.
    self.watchers_.erase(fd);
    self.reset_on_close_.erase(fd);
    ++self.stats_.sockets_opened;
    return fd;
  }

  static int on_close(void* user, curl_socket_t fd) noexcept {
    auto& self = *static_cast<CurlMulti*>(user);
    // Stop watching before the number is given back to the system.
    self.watchers_.erase(fd);
    if (self.reset_on_close_.erase(fd) != 0) {
      const linger reset{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
      ++self.stats_.sockets_reset;
    }
    self.owned_.erase(fd);
    ++self.stats_.sockets_closed;
    return ::close(fd);
  }

  friend class CurlCancel;

  std::mutex mutex_;
  CURLM* multi_ = nullptr;
  net::any_io_executor ex_;
  net::steady_timer timer_;
  std::uint64_t timer_generation_ = 0;
  std::uint64_t generation_ = 0;
  bool dead_ = false;
  std::unordered_map<curl_socket_t, std::unique_ptr<Watcher>> watchers_;
  std::unordered_set<curl_socket_t> owned_;           // opened by on_open, not closed yet
  std::unordered_set<curl_socket_t> reset_on_close_;  // of abandoned transfers
  std::unordered_map<CURL*, std::shared_ptr<CurlTransfer>> transfers_;
  http::ConnectionStats stats_;
};

inline void CurlCancel::operator()(net::cancellation_type_t type) const noexcept {
  // Total cancellation is refused: the request may already have had its effect.
  constexpr auto handled = net::cancellation_type::terminal | net::cancellation_type::partial;
  if ((type & handled) == net::cancellation_type::none) return;
  const auto t = transfer_.lock();
  if (!t) return;
  if (const auto m = t->multi.lock()) m->abandon(t);
}

// One per execution context: a multi handle for each backend used on it, cleaned up when the
// context shuts down (before the reactor, which is older, so that the watchers can still close).
class CurlService final : public net::execution_context::service {
 public:
  using key_type = CurlService;
  inline static net::execution_context::id id;

  explicit CurlService(net::execution_context& ctx) : net::execution_context::service(ctx) {
    // Older than this service, so they shut down after it.
    (void)net::use_service<net::detail::strand_executor_service>(ctx);
    (void)net::use_service<net::detail::reactive_descriptor_service>(ctx);
    (void)net::use_service<net::detail::deadline_timer_service<net::detail::chrono_time_traits<
        std::chrono::steady_clock, net::wait_traits<std::chrono::steady_clock>>>>(ctx);
  }

  // The multi of `backend` here, made by `make()` the first time; null once shut down.
  template <class Make>
  std::shared_ptr<CurlMulti> multi(const std::shared_ptr<const void>& backend, Make&& make) {
    std::shared_ptr<CurlMulti> retired;  // destroyed after the lock
    const std::lock_guard lock(mutex_);
    if (down_) return nullptr;
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (!it->key.owner_before(backend) && !backend.owner_before(it->key) && !it->key.expired()) {
        return it->multi;
      }
      if (it->key.expired() && it->multi->stats().transfers_running == 0) {
        retired = std::move(it->multi);  // its backend is gone and it is idle
        it = entries_.erase(it);
        break;
      }
      ++it;
    }
    std::shared_ptr<CurlMulti> made = make();
    entries_.push_back(Entry{backend, made});
    return made;
  }

  // The multi of `backend` here, if any.
  std::shared_ptr<CurlMulti> find(const std::shared_ptr<const void>& backend) {
    const std::lock_guard lock(mutex_);
    for (auto& e : entries_) {
      if (!e.key.owner_before(backend) && !backend.owner_before(e.key)) return e.multi;
    }
    return nullptr;
  }

 private:
  struct Entry {
    std::weak_ptr<const void> key;
    std::shared_ptr<CurlMulti> multi;
  };

  void shutdown() override {
    std::vector<Entry> entries;
    {
      const std::lock_guard lock(mutex_);
      down_ = true;
      entries.swap(entries_);
    }
    for (auto& e : entries) e.multi->shutdown();
  }

  std::mutex mutex_;
  bool down_ = false;
  std::vector<Entry> entries_;
};

}  // namespace detail
}  // namespace REQUEST_SHADOW_ABI
}  // namespace request_shadow

#endif  // REQUEST_SHADOW_DETAIL_CURL_MULTI_HPP
