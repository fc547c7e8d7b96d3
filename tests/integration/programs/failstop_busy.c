/* Burns CPU forever in one thread: the target of the failstop CPU-budget test, which
 * compares the CPU time this process had used when syschaos froze it with the budget. */
int main(void) {
  volatile unsigned long long n = 0;
  for (;;) ++n;
}
