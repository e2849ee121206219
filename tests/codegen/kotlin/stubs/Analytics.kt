// Stub of the analytics-kotlin API surface that generated Kotlin uses, for compiling it here
// (the library is on no package registry this project reaches). Signatures copied from
// segmentio/analytics-kotlin, tag 1.25.0 (commit aee381ffd85d3ba19c894b623629c190c09cf504):
// - core/src/main/java/com/segment/analytics/kotlin/core/Analytics.kt: `open class Analytics`,
//   its public `constructor(configuration: Configuration)` and
//   `fun track(name: String, properties: JsonObject = emptyJsonObject, enrichment: EnrichmentClosure? = null)`
//   (the enrichment closure is left out: generated code never passes one);
// - core/src/main/java/com/segment/analytics/kotlin/core/Configuration.kt: `data class
//   Configuration(val writeKey: String, ...)` (the other parameters all have defaults);
// - core/src/main/java/com/segment/analytics/kotlin/core/Events.kt: `val emptyJsonObject`.
// Test-only addition (not in the library): `tracked` records each track() call, so a test can
// print what the library would have been handed.
package com.segment.analytics.kotlin.core

import kotlinx.serialization.json.JsonObject

val emptyJsonObject = JsonObject(emptyMap())

data class Configuration(
    val writeKey: String,
)

open class Analytics(
    val configuration: Configuration,
) {
    val tracked: MutableList<Pair<String, JsonObject>> = mutableListOf()

    fun track(
        name: String,
        properties: JsonObject = emptyJsonObject,
    ) {
        tracked.add(name to properties)
    }
}
