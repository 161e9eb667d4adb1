# testca.sh - a throwaway CA and certificates for the tests (sourced;
# everything in the current directory).
#
#   testca_new CN            ca.key and ca.crt, valid two days
#   make_cert NAME SAN...    NAME.key and NAME.crt signed by the CA, CN
#                            the first SAN, one DNS subjectAltName per SAN
testca_new() {
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" \
        -keyout ca.key -out ca.crt >/dev/null 2>&1
}
make_cert() {
    local name=$1; shift
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$name.key" -out "$name.csr" >/dev/null 2>&1
    printf 'subjectAltName=%s\n' "$(printf 'DNS:%s,' "$@" | sed 's/,$//')" > "$name.ext"
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -extfile "$name.ext" -out "$name.crt" >/dev/null 2>&1
    chmod 644 "$name.key" "$name.crt"
}
