/*
 * httpd/src/openapi.h
 *	  The OpenAPI 3 document of the route table.
 */
#ifndef HTTPD_OPENAPI_H
#define HTTPD_OPENAPI_H

/* openapi_render: the document (pretty JSON, malloc'd) built from the
 * route table and the loaded catalog; NULL if the catalog is not loaded. */
extern char *openapi_render(void);

#endif
