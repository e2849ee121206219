// Stub of the kotlinx.serialization JSON elements that generated Kotlin uses, for compiling it
// here (kotlinx-serialization-json is on no package registry this project reaches). Copied from
// Kotlin/kotlinx.serialization, tag v1.5.1 (commit f83385276ce63fd8f76ce333a6f43ec095e9a1da; the
// version analytics-kotlin 1.25.0 depends on), formats/json/commonMain/src/kotlinx/serialization/json/
// JsonElement.kt: JsonElement, JsonPrimitive with its factories for Boolean?/Number?/String?,
// JsonLiteral, JsonNull, JsonObject, JsonArray, including their toString() (the JSON text), and
// internal/StringOps.kt: printQuoted (string escaping). Serializer annotations are left out.
package kotlinx.serialization.json

sealed class JsonElement

sealed class JsonPrimitive : JsonElement() {
    abstract val isString: Boolean
    abstract val content: String

    override fun toString(): String = content
}

fun JsonPrimitive(value: Boolean?): JsonPrimitive {
    if (value == null) return JsonNull
    return JsonLiteral(value, isString = false)
}

fun JsonPrimitive(value: Number?): JsonPrimitive {
    if (value == null) return JsonNull
    return JsonLiteral(value, isString = false)
}

fun JsonPrimitive(value: String?): JsonPrimitive {
    if (value == null) return JsonNull
    return JsonLiteral(value, isString = true)
}

internal class JsonLiteral internal constructor(
    body: Any,
    override val isString: Boolean,
) : JsonPrimitive() {
    override val content: String = body.toString()

    override fun toString(): String = if (isString) buildString { printQuoted(content) } else content

    override fun equals(other: Any?): Boolean {
        if (this === other) return true
        if (other == null || this::class != other::class) return false
        other as JsonLiteral
        return isString == other.isString && content == other.content
    }

    override fun hashCode(): Int = 31 * isString.hashCode() + content.hashCode()
}

object JsonNull : JsonPrimitive() {
    override val isString: Boolean get() = false
    override val content: String = "null"
}

class JsonObject(
    private val content: Map<String, JsonElement>,
) : JsonElement(),
    Map<String, JsonElement> by content {
    override fun equals(other: Any?): Boolean = content == other

    override fun hashCode(): Int = content.hashCode()

    override fun toString(): String =
        content.entries.joinToString(separator = ",", prefix = "{", postfix = "}") { (k, v) ->
            buildString {
                printQuoted(k)
                append(':')
                append(v)
            }
        }
}

class JsonArray(
    private val content: List<JsonElement>,
) : JsonElement(),
    List<JsonElement> by content {
    override fun equals(other: Any?): Boolean = content == other

    override fun hashCode(): Int = content.hashCode()

    override fun toString(): String = content.joinToString(prefix = "[", postfix = "]", separator = ",")
}

// internal/StringOps.kt: control characters as \u00XX, the usual short escapes for the rest.
private val ESCAPE_STRINGS: Array<String?> =
    arrayOfNulls<String>(93).apply {
        for (c in 0..0x1f) this[c] = "\\u" + c.toString(16).padStart(4, '0')
        this['"'.code] = "\\\""
        this['\\'.code] = "\\\\"
        this['\t'.code] = "\\t"
        this['\b'.code] = "\\b"
        this['\n'.code] = "\\n"
        this['\r'.code] = "\\r"
        this[0x0c] = "\\f"
    }

internal fun StringBuilder.printQuoted(value: String) {
    append('"')
    for (ch in value) {
        val escape = if (ch.code < ESCAPE_STRINGS.size) ESCAPE_STRINGS[ch.code] else null
        append(escape ?: ch.toString())
    }
    append('"')
}
