#include "test_ingest.h"

#include <signal.h>
#include <stdlib.h>

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	Suite *su = suite_create("ingest");
	add_session_tests(su);
#ifdef D4_TEST_IO
	add_io_tests(su);
#endif
	SRunner *sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
