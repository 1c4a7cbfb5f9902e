// Nothing to call: linking this target binds hypot/hypotf to their pre-2.35 glibc symbol versions
// (see glibc_compat.c), so pipeline-host also starts on Amazon Linux 2023 (glibc 2.34).
#pragma once
int cglibccompat_linked(void);
