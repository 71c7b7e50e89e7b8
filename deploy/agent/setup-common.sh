# Shared by the .deb postinst and the .rpm %post (cmake/packaging.cmake pastes this file into
# both): the random token, node_id from the host name, the listening port and the firewall
# hints, and the TLS key and certificate. Expects ROOT (an alternative root, or ""), ETC, CONFIG,
# TOKEN, USER_NAME and AGENT_BIN (the installed binary, run to make the certificate).

agent_gid() {
    if [ -f "$ROOT/etc/group" ]; then
        awk -F: -v n="$USER_NAME" '$1 == n { print $3 }' "$ROOT/etc/group"
    fi
}

# Writes a new random token unless a non-empty one exists; TOKEN_NEW=yes|no says which.
make_token() {
    # 32 random bytes, URL-safe base64 without padding: 43 characters.
    if [ -s "$TOKEN" ]; then
        TOKEN_NEW=no
        return 0
    fi
    (
        umask 077
        head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' > "$TOKEN.tmp"
        printf '\n' >> "$TOKEN.tmp"
    )
    chmod 0640 "$TOKEN.tmp"
    gid="$(agent_gid)"
    if [ -n "$gid" ]; then
        chown "0:$gid" "$TOKEN.tmp"
    else
        echo "monitor-agent: group $USER_NAME not found; $TOKEN stays root-only" >&2
    fi
    mv "$TOKEN.tmp" "$TOKEN"
    TOKEN_NEW=yes
}

# Makes the TLS key and self-signed certificate that config.yaml's tls: names, unless both exist
# (never overwritten: the aggregator pinned this key); CERT_NEW=yes|no|failed says what happened.
make_cert() {
    tls_dir="$ETC/tls"
    CERT_NEW=no
    if [ -s "$tls_dir/agent.key" ] && [ -s "$tls_dir/agent.crt" ]; then
        return 0
    fi
    install -d -m 0750 "$tls_dir"
    rm -f "$tls_dir/agent.key" "$tls_dir/agent.crt"
    if ! "$AGENT_BIN" --gen-cert --cert "$tls_dir/agent.crt" --key "$tls_dir/agent.key" \
        >/dev/null 2>"$tls_dir/gen-cert.err"; then
        echo "monitor-agent: could not make the TLS key: $(cat "$tls_dir/gen-cert.err")" >&2
        echo "monitor-agent: make it with: monitor-agent --gen-cert --cert $tls_dir/agent.crt --key $tls_dir/agent.key" >&2
        rm -f "$tls_dir/gen-cert.err"
        CERT_NEW=failed
        return 0
    fi
    rm -f "$tls_dir/gen-cert.err"
    gid="$(agent_gid)"
    if [ -n "$gid" ]; then
        chown "0:$gid" "$tls_dir" "$tls_dir/agent.key"
        chmod 0640 "$tls_dir/agent.key"
    fi
    CERT_NEW=yes
}

# The pin of the agent's certificate, for the aggregator's server form.
print_pin() {
    cert="$ETC/tls/agent.crt"
    [ -s "$cert" ] || return 0
    pin="$("$AGENT_BIN" --print-pin --cert "$cert" 2>/dev/null)" || return 0
    if [ "$CERT_NEW" = yes ]; then
        echo "monitor-agent: made a TLS key and certificate in $ETC/tls; its pin:"
    else
        echo "monitor-agent: keeping the TLS key in $ETC/tls; its pin:"
    fi
    echo "  $pin"
    echo "  (paste it as the server's pin in the aggregator, or let the first poll pin it)"
}

set_node_id() {
    if [ -f "$CONFIG" ] && grep -q '^node_id: "CHANGE_ME"' "$CONFIG"; then
        host="$(hostname 2>/dev/null || cat /etc/hostname 2>/dev/null || echo localhost)"
        host="$(printf '%s' "$host" | tr -cd 'A-Za-z0-9._-' | cut -c1-64)"
        [ -n "$host" ] || host=localhost
        sed -i "s/^node_id: \"CHANGE_ME\"/node_id: \"$host\"/" "$CONFIG"
    fi
}

listen_port() {
    port=""
    if [ -f "$CONFIG" ]; then
        port="$(sed -n 's/^listen:[[:space:]]*"\{0,1\}[^"]*:\([0-9][0-9]*\)"\{0,1\}.*/\1/p' "$CONFIG" | head -n 1)"
    fi
    echo "${port:-9109}"
}

# Tells the admin the token (when new) and how to let only the aggregator in.
print_token_and_hints() {
    port="$(listen_port)"
    if [ "$TOKEN_NEW" = yes ]; then
        echo "monitor-agent: generated a token in $TOKEN:"
        echo "  $(cat "$TOKEN")"
    else
        echo "monitor-agent: keeping the existing token in $TOKEN"
    fi
    print_pin
    echo "monitor-agent: allow only the aggregator (e.g. 10.0.0.10) to reach port $port:"
    echo "  sudo ufw allow from 10.0.0.10 to any port $port proto tcp"
    echo "  sudo firewall-cmd --permanent --add-rich-rule='rule family=ipv4 source address=10.0.0.10 port port=$port protocol=tcp accept'"
    echo "  sudo firewall-cmd --reload"
}
