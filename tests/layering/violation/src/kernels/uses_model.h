// Fixture for tests/layering: a kernel header that includes the model layer above it.
#include "model/linear.h"
