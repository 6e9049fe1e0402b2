// Reads a JSONL file through the installed/exported plural package and prints its summary.
#include <iostream>

#include "core/data/readers.hpp"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  std::cout << plural::core::read_jsonl(argv[1]).summary() << "\n";
  return 0;
}
