/*
 * entry.h - one list entry: a TLS level and its attributes.
 *
 * An entry is what a key in a list maps to.  It exists in three forms:
 * the source syntax ("verify direction=outbound notice=\"...\""), the
 * in-memory struct below, and the compact binary value stored in LMDB.
 * This module converts between them and validates attribute values;
 * it does no I/O.
 *
 * A decoded entry (entry_decode) points into the buffer it was decoded
 * from (for the daemon: the LMDB map), so it is valid only as long as
 * that buffer is.
 */
#ifndef TLSPOLICYD_ENTRY_H
#define TLSPOLICYD_ENTRY_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    LEVEL_NONE = 0,     /* exemption */
    LEVEL_MAY,          /* exemption, spelled as Postfix's "may" */
    LEVEL_ENCRYPT,
    LEVEL_VERIFY,
    LEVEL_SECURE,
    LEVEL_DANE,
    LEVEL_DANE_ONLY,
    LEVEL_COUNT
} TlsLevel;

typedef enum {
    DIRECTION_BOTH = 0,
    DIRECTION_INBOUND,
    DIRECTION_OUTBOUND,
} Direction;

/* TLS protocol versions, ordered; 0 means "not set" (use the default). */
typedef enum {
    PROTO_UNSET = 0,
    PROTO_TLSV1,
    PROTO_TLSV1_1,
    PROTO_TLSV1_2,
    PROTO_TLSV1_3,
} TlsProtocol;

typedef enum { MODE_ENFORCE = 0, MODE_REPORT } EntryMode;
typedef enum { ON_FAILURE_UNSET = 0, ON_FAILURE_DEFER, ON_FAILURE_BOUNCE } OnFailure;

typedef struct {
    TlsLevel level;
    Direction direction;
    TlsProtocol min_protocol;
    gboolean client_cert_required;
    EntryMode mode;
    OnFailure on_failure;
    const char *exclude_ciphers;  /* "3DES:RC4", or NULL for the default */
    const char *notice;           /* custom rejection text, or NULL */
    const char *transport;        /* transport override, or NULL */
    const char *nexthop;          /* next-hop override ("[relay]:587"), or NULL */
} Entry;

/* Largest encoded value; notice/ciphers/transport/nexthop are capped well below. */
#define ENTRY_MAX_STRING 512
#define ENTRY_MAX_TRANSPORT 64
#define ENTRY_MAX_NEXTHOP 255
#define ENTRY_MAX_ENCODED (8 + 4 * (ENTRY_MAX_STRING + 1))

const char *entry_level_name(TlsLevel level);
gboolean entry_level_parse(const char *word, TlsLevel *level);
gboolean entry_level_is_exemption(TlsLevel level);
const char *entry_protocol_name(TlsProtocol proto);
gboolean entry_protocol_parse(const char *word, TlsProtocol *proto);
gboolean entry_covers(const Entry *entry, Direction direction);

/* Apply "name=value" to entry.  Strings are borrowed from value.
 * On error, returns FALSE and sets *why to a static message. */
gboolean entry_set_attribute(Entry *entry, const char *name, const char *value,
                             const char **why);

/* A master.cf service name (transport=, the daemon's transport_* options). */
gboolean entry_transport_valid(const char *value);
/* One Postfix next-hop destination (nexthop=, the daemon's relayhost). */
gboolean entry_nexthop_valid(const char *value);

/* The attribute names entry_set_attribute() knows, NULL-terminated. */
const char *const *entry_attribute_names(void);

/* Cross-attribute checks once all attributes are set. */
gboolean entry_validate(const Entry *entry, const char **why);

/* Binary value: encode into out (ENTRY_MAX_ENCODED bytes), return length. */
size_t entry_encode(const Entry *entry, uint8_t *out);
/* Decode; strings point into buf.  FALSE if buf is not a valid value. */
gboolean entry_decode(const uint8_t *buf, size_t len, Entry *entry);

/* Source syntax: "LEVEL attr=value ..." (no key), appended to out. */
void entry_format(const Entry *entry, GString *out);

gboolean entry_equal(const Entry *a, const Entry *b);

#endif
