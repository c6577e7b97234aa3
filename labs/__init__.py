"""latencylab's course and harness: the lab declarations (labs/<lab>.py), the
registry of labs in order, the runner, the report, the plots and the CLI.
The guides live beside this package's modules, in labs/NN-<lab>/README.md."""
