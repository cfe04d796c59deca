#!/usr/bin/env bash
# Make sure a RabbitMQ broker answers on 127.0.0.1:5672, starting the local one if it is down.
set -euo pipefail

port_open() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

port_open && exit 0
if ! command -v rabbitmq-server >/dev/null; then
  echo "RabbitMQ is not running on 127.0.0.1:5672 and rabbitmq-server is not installed." >&2
  exit 1
fi
echo "Starting RabbitMQ..."
rabbitmq-server -detached
for _ in $(seq 1 60); do
  port_open && { sleep 1; exit 0; }
  sleep 1
done
echo "RabbitMQ did not come up within 60 s." >&2
exit 1
