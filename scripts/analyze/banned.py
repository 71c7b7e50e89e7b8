#!/usr/bin/env python3
# Fails on calls to C library functions we never want in src/ (threaded daemons): each finding
# names the file, line and the replacement. Comments and string literals are not searched.
# Usage: banned.py FILE...; exit status 1 when a banned call is found.
import re
import sys

BANNED = {
    "sprintf": "snprintf (bounded)",
    "vsprintf": "vsnprintf (bounded)",
    "strcpy": "mon_strlcpy (common/str.h: bounded, always terminated)",
    "strcat": "snprintf into the remaining space, or mon_strlcpy",
    "strncpy": "mon_strlcpy (strncpy does not terminate on truncation)",
    "strtok": "strtok_r, or a parse over (buf, len)",
    "gmtime": "gmtime_r (gmtime returns a shared buffer)",
    "localtime": "localtime_r (localtime returns a shared buffer)",
    "asctime": "strftime into a caller's buffer",
    "ctime": "strftime into a caller's buffer",
    "strerror": "mon_os_errno_text (common/os/os.h) or mon_strerror for MON_E* codes "
                "(strerror returns a shared buffer)",
}
CALL = re.compile(r"\b(" + "|".join(BANNED) + r")\s*\(")
# Comments and literals, replaced by spaces of the same length (newlines kept for the lines).
TOKENS = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)


def blank(m):
    return re.sub(r"[^\n]", " ", m.group(0))


def main(paths):
    found = 0
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            code = TOKENS.sub(blank, f.read())
        for no, line in enumerate(code.split("\n"), 1):
            for m in CALL.finditer(line):
                name = m.group(1)
                print(f"{path}:{no}: {name}() is banned here: use {BANNED[name]}")
                found += 1
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
