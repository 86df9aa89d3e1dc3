// The conformance checks are static_asserts in the other conformance_*.cpp files; this binary exists so
// that ctest reports them (if it was built, they held).
int main() { return 0; }
