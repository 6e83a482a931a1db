/* api-routes: prints the API route table compiled into d4api, one route per
 * line as "METHOD TEMPLATE OPERATIONID ROLE". The conformance test
 * (tests/integration/api/conformance.py) compares it with the operations of
 * openapi/d4hub.yaml, so that a route in the code but not in the spec, or the
 * reverse, fails the test. */
#include <stdio.h>

#include "api_internal.h"

int main(void)
{
	size_t i;

	for (i = 0; i < d4_api_nroutes; i++) {
		const struct d4_api_route *r = &d4_api_routes[i];

		if (printf("%s %s %s %s\n", r->method ? r->method : "-", r->tmpl ? r->tmpl : "-",
			   r->op_id ? r->op_id : "-", d4_api_role_name(r->min_role)) < 0)
			return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
