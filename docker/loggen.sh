#!/bin/sh
# Writes CRI lines, as containerd does, into files named as on EKS Fargate:
# /var/log/containers/<pod>_<namespace>_<container>-<64 hex id>.log
id=0f3c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a
web=/var/log/containers/checkout-7d9f8c6b5-x2k4p_shop_checkout-$id.log
worker=/var/log/containers/payments-worker-0_payments_worker-${id%?}b.log
i=0
while true; do
  now=$(date -u +%Y-%m-%dT%H:%M:%S.000000000Z)
  echo "$now stdout F {\"level\":\"info\",\"msg\":\"order placed\",\"order\":$i}" >> "$web"
  echo "$now stderr F payment $i authorized in $((i % 97))ms" >> "$worker"
  i=$((i + 1))
  sleep 1
done
