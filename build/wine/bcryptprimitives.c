/*
 * A stand-in for Windows' bcryptprimitives.dll, for running Bun's windows-x64 executables under
 * Wine 8 (Debian 12), which lacks it. Bun's runtime imports one function from it, ProcessPrng,
 * the system CSPRNG. This forwards to advapi32!SystemFunction036 (RtlGenRandom), which Wine
 * implements over the host's random source. Test support only: never shipped, never on Windows.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* ProcessPrng always succeeds on Windows (it returns TRUE); RtlGenRandom takes a ULONG length. */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
