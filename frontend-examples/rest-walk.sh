#!/usr/bin/env bash
# A walk through Realtime Dashboard's REST compatibility routes with curl:
# register, sign in, list products, (as the admin) create a product, place an
# order, list my orders, (as the admin) move the order, refresh the session and
# sign out. Every call must answer the expected HTTP status; anything else
# stops the walk with the response and a non-zero exit.
#
#   bash frontend-examples/rest-walk.sh
#
# Environment:
#   BASE_URL                      the server (default http://127.0.0.1:4000)
#   ADMIN_EMAIL, ADMIN_PASSWORD   an admin: creates the product and moves the
#                                 order. Without them the walk orders the first
#                                 product in stock (and stops if there is none)
#                                 and skips the admin steps.
#
# Reads JSON with jq when it is installed, else with a minimal sed fallback
# (REST_WALK_NO_JQ=1 forces the fallback).
set -euo pipefail

BASE_URL="${BASE_URL:-http://127.0.0.1:4000}"
BASE_URL="${BASE_URL%/}"
ADMIN_EMAIL="${ADMIN_EMAIL:-}"
ADMIN_PASSWORD="${ADMIN_PASSWORD:-}"

if [ -n "$ADMIN_EMAIL" ] && [ -z "$ADMIN_PASSWORD" ] || [ -z "$ADMIN_EMAIL" ] && [ -n "$ADMIN_PASSWORD" ]; then
    echo "rest-walk: set both ADMIN_EMAIL and ADMIN_PASSWORD, or neither" >&2
    exit 1
fi
command -v curl >/dev/null || { echo "rest-walk: curl is required" >&2; exit 1; }
use_jq=0
if [ -z "${REST_WALK_NO_JQ:-}" ] && command -v jq >/dev/null; then
    use_jq=1
fi

body_file=$(mktemp)
trap 'rm -f "$body_file"' EXIT
BODY=""
step_number=0

step() {
    step_number=$((step_number + 1))
    echo "[$step_number] $*"
}

# call METHOD PATH EXPECTED_STATUS [JSON_BODY] [TOKEN]: the response body ends
# up in $BODY; any other status (or no answer) ends the walk.
call() {
    local method=$1 path=$2 expected=$3 data=${4:-} token=${5:-}
    local args=(-sS -X "$method" -o "$body_file" -w '%{http_code}' -H 'accept: application/json')
    if [ -n "$data" ]; then
        args+=(-H 'content-type: application/json' --data "$data")
    fi
    if [ -n "$token" ]; then
        args+=(-H "authorization: Bearer $token")
    fi
    local status
    if ! status=$(curl "${args[@]}" "$BASE_URL$path"); then
        echo "FAILED: $method $path: no answer from $BASE_URL (is the server running?)" >&2
        exit 1
    fi
    BODY=$(cat "$body_file")
    if [ "$status" != "$expected" ]; then
        echo "FAILED: $method $path answered HTTP $status, expected $expected: $BODY" >&2
        exit 1
    fi
    echo "    $method $path -> $status"
}

# get JQ_FILTER SED_KEY [last]: a value from $BODY. jq evaluates the filter;
# the sed fallback splits the body at , { } [ ] and takes the first (or the
# last) "SED_KEY": string or number, which is enough for ids, tokens and
# statuses.
get() {
    local filter=$1 key=$2 which=${3:-first} value
    if [ "$use_jq" = 1 ]; then
        value=$(printf '%s' "$BODY" | jq -r "$filter // empty")
    else
        value=$(printf '%s' "$BODY" | tr ',{}[]' '\n\n\n\n\n' |
            sed -n "s/^\"$key\":\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" |
            if [ "$which" = last ]; then tail -n 1; else head -n 1; fi)
    fi
    if [ -z "$value" ]; then
        echo "FAILED: no $key in the response: $BODY" >&2
        exit 1
    fi
    printf '%s' "$value"
}

stamp="$(date +%s)-$$-$RANDOM"
email="rest-walk-$stamp@example.com"
password="example-password-1"
echo "REST walk against $BASE_URL (JSON read with $([ "$use_jq" = 1 ] && echo jq || echo sed))"

step "register $email"
call POST /auth/register 201 "{\"name\":\"REST Walk\",\"email\":\"$email\",\"password\":\"$password\"}"
user_id=$(get '.data.user.id' id)
echo "    user id $user_id"

step "sign in"
call POST /auth/login 200 "{\"email\":\"$email\",\"password\":\"$password\"}"
token=$(get '.data.token' token)
refresh_token=$(get '.data.refreshToken' refreshToken)
echo "    access token ${token:0:16}..., refresh token ${refresh_token:0:8}..."

step "list products"
call GET '/products?limit=5' 200
if [ "$use_jq" = 1 ]; then
    printf '%s' "$BODY" | jq -r '.data[] | "    \(.id)  \(.name)  price \(.price)  stock \(.stock)"'
else
    echo "    $BODY"
fi

admin_token=""
if [ -n "$ADMIN_EMAIL" ]; then
    step "sign in as the admin $ADMIN_EMAIL"
    call POST /auth/login 200 "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}"
    admin_token=$(get '.data.token' token)

    step "create a product (as the admin)"
    call POST /products 201 "{\"name\":\"REST walk lamp $stamp\",\"price\":12.5,\"stock\":4,\"description\":\"Made by frontend-examples/rest-walk.sh.\"}" "$admin_token"
    product_id=$(get '.data.id' id)
    echo "    product $product_id"
else
    step "pick the first product in stock (no ADMIN_EMAIL/ADMIN_PASSWORD, so none is created)"
    product_id=$(
        get '[.data[] | select(.stock >= 1)][0].id' id 2>/dev/null
    ) || {
        echo "FAILED: there is no product in stock to order; give ADMIN_EMAIL and ADMIN_PASSWORD to create one" >&2
        exit 2
    }
    echo "    product $product_id"
fi

step "place an order"
call POST /orders 201 "{\"productId\":\"$product_id\",\"quantity\":1}" "$token"
order_id=$(get '.data.id' id)
order_status=$(get '.data.status' status last)
echo "    order $order_id, status $order_status"

step "list my orders"
call GET /orders/my 200 "" "$token"
if [ "$use_jq" = 1 ]; then
    printf '%s' "$BODY" | jq -e --arg id "$order_id" '.data | any(.id == $id)' >/dev/null || {
        echo "FAILED: order $order_id is not in GET /orders/my: $BODY" >&2
        exit 1
    }
    printf '%s' "$BODY" | jq -r '.data[] | "    \(.id)  \(.status)  total \(.total)"'
else
    case "$BODY" in
        *"\"$order_id\""*) echo "    $BODY" ;;
        *) echo "FAILED: order $order_id is not in GET /orders/my: $BODY" >&2; exit 1 ;;
    esac
fi

if [ -n "$admin_token" ]; then
    step "move the order to shipped (as the admin)"
    call PUT "/orders/$order_id" 200 '{"status":"shipped"}' "$admin_token"
    order_status=$(get '.data.status' status last)
    echo "    status $order_status"

    step "moving it back to pending is refused (409, status only moves forward)"
    call PUT "/orders/$order_id" 409 '{"status":"pending"}' "$admin_token"
    code=$(get '.code' code)
    echo "    code $code"
else
    step "moving the order skipped: no ADMIN_EMAIL/ADMIN_PASSWORD"
fi

step "refresh the session (the refresh token is single-use)"
call POST /auth/refresh 200 "{\"refreshToken\":\"$refresh_token\"}"
refresh_token=$(get '.data.refreshToken' refreshToken)
token=$(get '.data.token' token)
echo "    new access token ${token:0:16}..., new refresh token ${refresh_token:0:8}..."

step "sign out"
call POST /auth/logout 200 "{\"refreshToken\":\"$refresh_token\"}"

step "the signed-out refresh token no longer works (401)"
call POST /auth/refresh 401 "{\"refreshToken\":\"$refresh_token\"}"

echo "OK: the REST walk finished."
