/* Check suite test_ingest: the session state machine and the I/O loop. */
#ifndef TEST_INGEST_H
#define TEST_INGEST_H

#include <check.h>

void add_session_tests(Suite *su);
void add_io_tests(Suite *su);

#endif
