#!/usr/bin/env bash
# Starts or stops the nginx the http tests run against, on loopback, as a CTest fixture.
#   fixture.sh start <dir>   make a CA and a server certificate, the served files and a config
#                            in <dir>, pick two free ports, start nginx; writes <dir>/ports
#   fixture.sh stop <dir>    stop it (whatever the tests did) and wait until it is gone
set -euo pipefail
action="$1"
dir="$2"
nginx="${REQUEST_SHADOW_NGINX_BIN:-/usr/sbin/nginx}"
# nginx reads NGINX as sockets inherited from an older binary (and then does not daemonize).
unset NGINX

stop() {
  if [ -f "$dir/nginx.pid" ]; then
    pid="$(cat "$dir/nginx.pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/nginx.pid"
  fi
}

if [ "$action" = stop ]; then
  stop
  exit 0
fi
[ "$action" = start ] || { echo "usage: $0 start|stop <dir>" >&2; exit 2; }

stop  # a server left over from an interrupted run
rm -rf "$dir"
mkdir -p "$dir/logs" "$dir/tmp" "$dir/html"

# Two free ports on loopback, picked now.
read -r plain tls < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)

# A CA, and a server certificate for 127.0.0.1 and localhost signed by it.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=request-shadow test CA" \
  -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$dir/san.ext"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
  -CAcreateserial -days 2 -extfile "$dir/san.ext" -out "$dir/server.pem" 2>/dev/null

# What it serves.
printf 'hello from nginx\n' > "$dir/html/hello.txt"
head -c 10485760 /dev/urandom > "$dir/html/big.bin"
printf '{"id":7,"name":"widget","price":10,"tags":["a","b"]}' > "$dir/html/v1.json"
printf '{"name":"widget","id":7,"tags":["a","b"],"price":12}' > "$dir/html/v2.json"

user=""
if [ "$(id -u)" = 0 ]; then user="user root;"; fi
cat > "$dir/nginx.conf" <<CONF
$user
daemon on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  types { text/plain txt; application/json json; application/octet-stream bin; }
  log_format connection '\$connection';
  server {
    listen 127.0.0.1:$plain;
    listen 127.0.0.1:$tls ssl http2;
    ssl_certificate $dir/server.pem;
    ssl_certificate_key $dir/server.key;
    root $dir/html;
    location = /repeated {
      add_header X-Rep one always;
      add_header X-Rep two always;
      return 200 "repeated\n";
    }
    location = /protocol { return 200 "\$server_protocol"; }
    location = /keepalive {
      access_log $dir/logs/keepalive.log connection;
      return 200 "ka";
    }
    # sub_filter drops Content-Length, so the body goes chunked (HTTP/1.1).
    location /chunked/ {
      alias $dir/html/;
      sub_filter 'hello' 'HELLO';
      sub_filter_once off;
      sub_filter_types *;
    }
    # Two versions of one JSON API: one member differs, and the member order.
    location = /v1/item { default_type application/json; alias $dir/html/v1.json; }
    location = /v2/item { default_type application/json; alias $dir/html/v2.json; }
  }
}
CONF

printf '%s %s\n' "$plain" "$tls" > "$dir/ports"
# Its standard streams away from CTest's pipes, which the daemon would otherwise keep open.
if ! "$nginx" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" \
    </dev/null >"$dir/logs/startup.log" 2>&1; then
  cat "$dir/logs/startup.log" "$dir/logs/error.log" >&2
  exit 1
fi
for _ in $(seq 100); do
  [ -s "$dir/nginx.pid" ] && break
  sleep 0.05
done
[ -s "$dir/nginx.pid" ] || { cat "$dir/logs/startup.log" "$dir/logs/error.log" >&2; exit 1; }
echo "nginx on 127.0.0.1:$plain (http) and 127.0.0.1:$tls (https, HTTP/2), pid $(cat "$dir/nginx.pid")"
