#!/usr/bin/env python3
# tmpswap.py - the hostile list maintainer of issue 16: watch a directory
# with inotify and, the moment a temporary file named like PREFIX* appears,
# replace it with a symlink to TARGET (a root-only place).  Runs as an
# unprivileged user until killed; prints "ready" once watching and one line
# per swap.
#
#   tmpswap.py DIR PREFIX TARGET
import ctypes, os, struct, sys

IN_CREATE, IN_MOVED_TO = 0x100, 0x80
libc = ctypes.CDLL(None, use_errno=True)
directory, prefix, target = sys.argv[1], sys.argv[2], sys.argv[3]
fd = libc.inotify_init()
if fd < 0 or libc.inotify_add_watch(fd, directory.encode(), IN_CREATE | IN_MOVED_TO) < 0:
    sys.exit("tmpswap: inotify: %s" % os.strerror(ctypes.get_errno()))
print("ready", flush=True)
while True:
    data = os.read(fd, 65536)
    at = 0
    while at < len(data):
        _, _, _, length = struct.unpack_from("iIII", data, at)
        name = data[at + 16:at + 16 + length].rstrip(b"\0").decode()
        at += 16 + length
        if not name.startswith(prefix):
            continue
        path = os.path.join(directory, name)
        try:
            os.unlink(path)
            os.symlink(target, path)
            print("swapped", name, flush=True)
        except OSError as e:
            print("missed", name, e, flush=True)
