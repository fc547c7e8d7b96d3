#include "cli/app.hpp"

int main(int argc, char** argv) { return syschaos::cli::run(argc, argv); }
