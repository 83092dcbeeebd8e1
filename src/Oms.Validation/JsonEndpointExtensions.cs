using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Oms.Validation;

public static class JsonEndpointExtensions
{
    /// <summary>OpenAPI metadata of an endpoint that takes a JSON body: its shape and the body errors it can answer.</summary>
    public static RouteHandlerBuilder AcceptsJson<TRequest>(this RouteHandlerBuilder builder) where TRequest : notnull =>
        builder.Accepts<TRequest>("application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
}
