/*
 * keygate/keygate.h — everything of libkeygate in one include.
 */
#ifndef KEYGATE_KEYGATE_H
#define KEYGATE_KEYGATE_H

#define KEYGATE_VERSION_MAJOR 0
#define KEYGATE_VERSION_MINOR 1
#define KEYGATE_VERSION_PATCH 0
#define KEYGATE_VERSION "0.1.0"

#include "keygate/credential.h"
#include "keygate/decision.h"
#include "keygate/digest.h"
#include "keygate/head.h"
#include "keygate/index.h"
#include "keygate/key.h"
#include "keygate/response.h"
#include "keygate/span.h"
#include "keygate/status.h"

#endif /* KEYGATE_KEYGATE_H */
