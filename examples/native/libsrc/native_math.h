/* libnative_math: a small shared library that native_demo's extension links against. */
#ifndef NATIVE_MATH_H
#define NATIVE_MATH_H

int nm_add(int a, int b);

#endif
