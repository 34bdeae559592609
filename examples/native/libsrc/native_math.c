/* libnative_math: built as its own shared library, never copied into the wheel by the build. */
#include "native_math.h"

int nm_add(int a, int b)
{
    return a + b;
}
