// glibc 2.35 gave hypot and hypotf new symbol versions. A binary linked on a newer distribution (Debian 12 has
// 2.36) then references hypot@GLIBC_2.35, through the statically linked Swift runtime and Foundation, and the
// Lambda runtime provided.al2023 (glibc 2.34) refuses to load it. Defining the two functions here, as calls to
// the older versions that every glibc still exports, binds those references inside the binary instead.
#include "CGlibcCompat.h"

#if defined(__linux__)
#include <features.h>  // defines __GLIBC__
#endif

#if defined(__linux__) && defined(__GLIBC__)
#if defined(__x86_64__)
#define CGLIBC_OLD "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define CGLIBC_OLD "GLIBC_2.17"
#endif
#endif

#ifdef CGLIBC_OLD
double cglibccompat_hypot_old(double, double);
float cglibccompat_hypotf_old(float, float);
__asm__(".symver cglibccompat_hypot_old, hypot@" CGLIBC_OLD);
__asm__(".symver cglibccompat_hypotf_old, hypotf@" CGLIBC_OLD);

double hypot(double x, double y) { return cglibccompat_hypot_old(x, y); }
float hypotf(float x, float y) { return cglibccompat_hypotf_old(x, y); }
#endif

int cglibccompat_linked(void) { return 1; }
