/*
 * refuse.h - how the list's parsers (entry.c, key.c) turn input down:
 * say why, in a static text the caller puts in its "file, line N:"
 * message, and return FALSE, in one statement: "return refuse(why, ...)".
 */
#ifndef TLSPOLICYD_REFUSE_H
#define TLSPOLICYD_REFUSE_H

#include <glib.h>

static inline gboolean refuse(const char **why, const char *text)
{
    *why = text;
    return FALSE;
}

#endif
